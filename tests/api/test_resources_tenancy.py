"""G10 over HTTP: a user never reads, lists, counts, changes or deletes another tenant's rows.

Every route of both resources is tried by user A against user B's rows, with
requests that would succeed for B (right ``If-Match`` included): each answer is
404 — never 403, never B's data — and B's rows are unchanged afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
from tests.service.projects_app import (
    Membership,
    Memberships,
    ProjectsApi,
    Tasks,
    new_user,
    projects_api,
)

from lamina.api import PROBLEM_MEDIA_TYPE


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[ProjectsApi]:
    async with projects_api(db_url) as client:
        yield client


async def snapshot(api: ProjectsApi, user: Any, project: str, task: str) -> list[Any]:
    """What user B sees of its rows (to compare before and after A's attempts)."""
    seen = []
    for url in (f"/projects/{project}", f"/tasks/{task}", f"/projects/{project}/tasks"):
        response = await api.request(user, "GET", url)
        assert response.status_code == 200
        seen.append(response.json())
    return seen


async def test_g10_every_route_answers_404_for_another_tenants_rows(api: ProjectsApi) -> None:
    a, b = new_user(), new_user()
    mine = await api.new_project(a, name="alpha")
    await api.new_task(a, mine["id"], title="mine")
    project = await api.new_project(b, name="beta", description="B's plans")
    task = await api.new_task(b, project["id"], title="B's secret task")
    deleted = await api.new_task(b, project["id"], title="B's deleted task")
    gone = await api.request(b, "DELETE", f"/tasks/{deleted['id']}", headers={"If-Match": '"1"'})
    assert gone.status_code == 204
    before = await snapshot(api, b, project["id"], task["id"])
    p, t, d = project["id"], task["id"], deleted["id"]
    if_match = {"If-Match": '"1"'}

    attempts: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"/projects/{p}", {}),
        ("PATCH", f"/projects/{p}", {"json": {"name": "taken"}, "headers": if_match}),
        ("DELETE", f"/projects/{p}", {"headers": if_match}),
        ("POST", f"/projects/{p}/restore", {}),
        ("GET", f"/projects/{p}/tasks", {}),
        ("GET", f"/projects/{p}/tasks/count", {}),
        ("POST", f"/projects/{p}/tasks", {"json": {"title": "planted"}}),
        ("GET", f"/tasks/{t}", {}),
        ("PATCH", f"/tasks/{t}", {"json": {"title": "taken"}, "headers": if_match}),
        ("DELETE", f"/tasks/{t}", {"headers": if_match}),
        ("GET", f"/tasks/{d}", {}),
        ("POST", f"/tasks/{d}/restore", {}),
        ("POST", f"/tasks/{d}/restore", {"headers": {"If-Match": '"2"'}}),
    ]
    for method, url, kwargs in attempts:
        response = await api.request(a, method, url, **kwargs)
        assert response.status_code == 404, (method, url, response.text)
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert "beta" not in response.text
        assert "secret" not in response.text

    assert await snapshot(api, b, project["id"], task["id"]) == before
    still_deleted = await Tasks(api.db).get(UUID(deleted["id"]), include_deleted=True)
    assert still_deleted.deleted_at is not None
    assert await Tasks(api.db).count(include_deleted=True) == 3


async def test_g10_lists_and_counts_show_only_the_callers_tenants(api: ProjectsApi) -> None:
    a, b = new_user(), new_user()
    mine = await api.new_project(a, name="alpha")
    theirs = await api.new_project(b, name="beta")
    await api.new_task(b, theirs["id"], title="B's task")

    listed = await api.request(a, "GET", "/projects")
    assert [item["id"] for item in listed.json()["items"]] == [mine["id"]]
    counted = await api.request(a, "GET", "/projects/count")
    assert counted.json() == {"count": 1}
    for query in ("name=beta", "name__in=alpha,beta", f"name__ne={mine['name']}"):
        response = await api.request(a, "GET", f"/projects?{query}")
        assert response.status_code == 200
        assert all(item["name"] != "beta" for item in response.json()["items"]), query
        response = await api.request(a, "GET", f"/projects/count?{query}")
        assert response.json()["count"] <= 1


async def test_g10_a_member_of_both_tenants_sees_both(api: ProjectsApi) -> None:
    a, b = new_user(), new_user()
    first = await api.new_project(a, name="first")
    second = await api.new_project(b, name="second")
    await Memberships(api.db).add(Membership(user_id=a, project_id=second["id"]))

    listed = await api.request(a, "GET", "/projects?sort=name")
    assert [item["name"] for item in listed.json()["items"]] == ["first", "second"]
    task = await api.new_task(a, second["id"], title="joined")
    assert (await api.request(b, "GET", f"/tasks/{task['id']}")).status_code == 200
    assert (await api.request(b, "GET", f"/projects/{first['id']}")).status_code == 404


async def test_requests_without_a_principal_are_401(api: ProjectsApi) -> None:
    routes = [("GET", "/projects"), ("POST", "/projects"), ("GET", f"/tasks/{new_user()}")]
    for method, url in routes:
        response = await api.request(None, method, url, json={"name": "x"})
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
