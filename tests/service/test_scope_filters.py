"""Scope filters evaluated in Python: the check that refuses creates into a foreign tenant."""

from __future__ import annotations

from tests.service.projects_app import Projects, Task, Tasks, User, new_user

from lamina.persistence import Database, where
from lamina.service import MemberOf, OwnedBy, Unscoped, referent_name, unmet_filter


def test_unmet_filter_finds_the_first_filter_an_entity_breaks() -> None:
    project = new_user()
    task = Task(project_id=project, title="Write the Docs", estimate=3)
    mapper = Tasks.mapper()

    assert unmet_filter(task, [where("project_id").in_([str(project)])], mapper) is None
    assert unmet_filter(task, [where("project_id") == str(project)], mapper) is None
    assert unmet_filter(task, [where("title").icontains("the docs")], mapper) is None
    assert unmet_filter(task, [where("title").startswith("Write")], mapper) is None
    assert unmet_filter(task, [where("due_at").is_null()], mapper) is None
    assert unmet_filter(task, [where("estimate") >= 3, where("estimate") < 4], mapper) is None

    foreign = where("project_id").in_([new_user()])
    assert unmet_filter(task, [where("estimate") > 1, foreign], mapper) is foreign
    assert unmet_filter(task, [where("project_id").in_([])], mapper) is not None
    assert unmet_filter(task, [where("project_id").not_in([project])], mapper) is not None
    assert unmet_filter(task, [where("due_at").is_null(False)], mapper) is not None
    assert unmet_filter(task, [where("due_at") > 1], mapper) is not None


def test_unmet_filter_can_skip_the_primary_key() -> None:
    mapper = Projects.mapper()
    task = Task(project_id=new_user(), title="t")
    only_known = [where("id").in_([new_user()])]
    assert unmet_filter(task, only_known, mapper) is not None
    assert unmet_filter(task, only_known, mapper, skip=("id",)) is None


async def test_scopes_build_repository_filters(tmp_path: object) -> None:
    user = User(new_user())
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/unused.db")
    try:
        assert await Unscoped().filters(user, db) == ()
        (owned,) = await OwnedBy("created_by_id").filters(user, db)
        assert (owned.field, owned.op.value, owned.value) == ("created_by_id", "eq", user.id)

        async def two_tenants(principal: User, target: object) -> list[object]:
            return ["t1", "t2"]

        (member,) = await MemberOf("workspace_id", two_tenants).filters(user, db)
        assert (member.field, member.op.value, member.value) == ("workspace_id", "in", ["t1", "t2"])
    finally:
        await db.close()


def test_referent_name_names_what_a_tenant_field_points_to() -> None:
    assert referent_name("workspace_id") == "Workspace"
    assert referent_name("parent_task_id") == "ParentTask"
    assert referent_name("owner") == "Owner"
