"""Actions on resources, read and write scopes, before hooks and the history route, over
HTTP on the course catalogue (tests/api/courses_app.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID

import pytest
from tests.api.courses_app import Courses, CoursesApi, Enrollments, courses_api
from tests.api.test_resources_writes import assert_problem

from lamina.api import Count, IfMatch, ResourceAction
from lamina.api.actions import check_actions
from lamina.domain import uuid7
from lamina.events import EventStore
from lamina.persistence import where


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[CoursesApi]:
    async with courses_api(db_url) as client:
        yield client


async def test_an_action_answers_the_new_version_with_its_etag(api: CoursesApi) -> None:
    owner = uuid7()
    course = await api.new_course(owner)

    published = await api.request(
        owner, "POST", f"/courses/{course['id']}/publish", headers={"If-Match": '"1"'}
    )

    assert published.status_code == 200, published.text
    assert published.headers["etag"] == '"2"'
    body = published.json()
    assert (body["status"], body["version"]) == ("published", 2)
    assert body["published_at"] is not None
    stored = await Courses(api.db).get(UUID(course["id"]))
    assert stored.version == 2


async def test_g2_an_action_needs_if_match_and_refuses_a_stale_one(api: CoursesApi) -> None:
    owner = uuid7()
    course = await api.new_course(owner)
    url = f"/courses/{course['id']}/publish"

    assert_problem(await api.request(owner, "POST", url), 428, "precondition-required")
    assert_problem(
        await api.request(owner, "POST", url, headers={"If-Match": '"7"'}), 412, "version-conflict"
    )
    assert_problem(
        await api.request(owner, "POST", url, headers={"If-Match": "W/1"}), 400, "invalid-input"
    )

    assert (await Courses(api.db).get(UUID(course["id"]))).status == "draft"


async def test_g10_an_action_outside_the_scope_is_404(api: CoursesApi) -> None:
    owner, stranger = uuid7(), uuid7()
    draft = await api.new_course(owner)

    response = await api.request(
        stranger, "POST", f"/courses/{draft['id']}/publish", headers={"If-Match": '"1"'}
    )

    assert_problem(response, 404, "not-found")
    missing = await api.request(
        owner, "POST", f"/courses/{uuid7()}/publish", headers={"If-Match": '"1"'}
    )
    assert_problem(missing, 404, "not-found")


async def test_g3_a_domain_error_in_an_action_writes_nothing(api: CoursesApi) -> None:
    owner = uuid7()
    course = await api.new_course(owner, title="Py")  # too short to publish
    events_before = await EventStore(api.db).read()

    response = await api.request(
        owner, "POST", f"/courses/{course['id']}/publish", headers={"If-Match": '"1"'}
    )

    body = assert_problem(response, 400, "invalid-input")
    assert [e["field"] for e in body["errors"]] == ["title"]
    stored = await Courses(api.db).get(UUID(course["id"]))
    assert (stored.version, stored.status) == (1, "draft")
    assert await EventStore(api.db).read() == events_before  # the event it raised is gone
    assert [e.action for e in await Courses(api.db).history(stored.id)] == ["create"]


async def test_an_action_refused_by_the_domain_is_409(api: CoursesApi) -> None:
    owner = uuid7()
    course = await api.published_course(owner)

    response = await api.request(
        owner, "POST", f"/courses/{course['id']}/publish", headers={"If-Match": '"2"'}
    )

    assert_problem(response, 409, "conflict")


async def test_an_action_with_a_body_and_an_optional_if_match(api: CoursesApi) -> None:
    owner = uuid7()
    course = await api.new_course(owner)
    url = f"/courses/{course['id']}/rename"

    renamed = await api.request(owner, "POST", url, json={"title": "Rust"})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["title"], renamed.headers["etag"]) == ("Rust", '"2"')
    stale = await api.request(owner, "POST", url, json={"title": "Go"}, headers={"If-Match": '"1"'})
    assert_problem(stale, 412, "version-conflict")
    assert_problem(await api.request(owner, "POST", url, json={"title": ""}), 422, "invalid-input")
    assert_problem(await api.request(owner, "POST", url), 422, "invalid-input")
    assert (await Courses(api.db).get(UUID(course["id"]))).title == "Rust"


async def test_g2_concurrent_actions_without_if_match_decide_on_fresh_rows(
    api: CoursesApi,
) -> None:
    owner = uuid7()
    course = await api.new_course(owner)
    url = f"/courses/{course['id']}/rename"

    answers = await asyncio.gather(
        *(api.request(owner, "POST", url, json={"title": f"Title {n}"}) for n in range(6))
    )

    assert sorted(a.status_code for a in answers) == [200] * 6
    stored = await Courses(api.db).get(UUID(course["id"]))
    assert stored.version == 7  # each rename applied once, none lost
    assert len(await Courses(api.db).history(stored.id)) == 7


async def test_an_actions_openapi_documents_if_match_and_its_errors(api: CoursesApi) -> None:
    spec = api.app.openapi()

    publish = spec["paths"]["/courses/{id}/publish"]["post"]
    assert publish["operationId"] == "publish_course"
    assert publish["summary"] == "Publish a draft course"
    if_match = [p for p in publish["parameters"] if p["name"] == "If-Match"]
    assert [(p["in"], p["required"]) for p in if_match] == [("header", True)]
    assert {"200", "400", "401", "403", "404", "409", "412", "428"} <= set(publish["responses"])
    assert "ETag" in publish["responses"]["200"]["headers"]
    assert "requestBody" not in publish
    rename = spec["paths"]["/courses/{id}/rename"]["post"]
    assert rename["requestBody"]["required"] is True
    assert [p["required"] for p in rename["parameters"] if p["name"] == "If-Match"] == [False]
    assert "428" not in rename["responses"]


async def test_read_and_write_scopes_a_reader_sees_but_may_not_change(api: CoursesApi) -> None:
    owner, reader = uuid7(), uuid7()
    course = await api.published_course(owner)
    item = f"/courses/{course['id']}"
    if_match = {"If-Match": '"2"'}

    assert (await api.request(reader, "GET", item)).status_code == 200
    listed = await api.request(reader, "GET", "/courses")
    assert [c["id"] for c in listed.json()["items"]] == [course["id"]]
    patch = await api.request(reader, "PATCH", item, json={"title": "Mine now"}, headers=if_match)
    assert_problem(patch, 403, "permission-denied")
    assert_problem(
        await api.request(reader, "DELETE", item, headers=if_match), 403, "permission-denied"
    )
    renamed = await api.request(reader, "POST", f"{item}/rename", json={"title": "x"})
    assert_problem(renamed, 403, "permission-denied")
    # Its audit trail is its writers' (history_needs_write), not every reader's.
    history = await api.request(reader, "GET", f"{item}/history")
    assert_problem(history, 403, "permission-denied")
    assert (await api.request(owner, "GET", f"{item}/history")).status_code == 200
    stored = await Courses(api.db).get(UUID(course["id"]))
    assert (stored.title, stored.version, stored.deleted_at) == ("Python basics", 2, None)


async def test_g10_read_and_write_scopes_a_stranger_to_a_draft_gets_404_everywhere(
    api: CoursesApi,
) -> None:
    owner, stranger = uuid7(), uuid7()
    draft = await api.new_course(owner)
    item = f"/courses/{draft['id']}"
    if_match = {"If-Match": '"1"'}

    answers = [
        await api.request(stranger, "GET", item),
        await api.request(stranger, "PATCH", item, json={"title": "x"}, headers=if_match),
        await api.request(stranger, "DELETE", item, headers=if_match),
        await api.request(stranger, "POST", f"{item}/publish", headers=if_match),
        await api.request(stranger, "GET", f"{item}/history"),
        await api.request(stranger, "GET", f"{item}/enrollments"),
    ]

    assert [a.status_code for a in answers] == [404] * len(answers)
    assert (await api.request(stranger, "GET", "/courses")).json()["items"] == []
    assert (await api.request(stranger, "GET", "/courses/count")).json() == {"count": 0}


async def test_read_and_write_scopes_the_owner_changes_and_creates_with_location(
    api: CoursesApi,
) -> None:
    owner = uuid7()

    created = await api.request(owner, "POST", "/courses", json={"title": "Data  science"})

    assert created.status_code == 201
    location = created.headers["location"]
    assert location == f"http://testserver/courses/{created.json()['id']}"
    assert created.json()["owner_id"] == str(owner)
    patched = await api.request(
        owner,
        "PATCH",
        location,
        json={"title": "Data    science  101"},
        headers={"If-Match": '"1"'},
    )
    assert patched.status_code == 200
    assert patched.json()["title"] == "Data science 101"  # adjusted by before_update
    deleted = await api.request(owner, "DELETE", location, headers={"If-Match": '"2"'})
    assert deleted.status_code == 204


async def test_server_owned_fields_of_an_owned_resource_cannot_be_sent(api: CoursesApi) -> None:
    owner = uuid7()
    planted = await api.request(
        owner, "POST", "/courses", json={"title": "x", "owner_id": str(uuid7())}
    )
    assert_problem(planted, 422, "invalid-input")
    assert await Courses(api.db).count() == 0


async def test_before_create_refuses_an_enrollment_in_a_draft(api: CoursesApi) -> None:
    owner, student = uuid7(), uuid7()
    draft = await api.new_course(owner)
    course = await api.published_course(owner, "Go in practice")

    refused = await api.request(owner, "POST", f"/courses/{draft['id']}/enrollments", json={})
    enrolled = await api.request(student, "POST", f"/courses/{course['id']}/enrollments", json={})

    assert_problem(refused, 409, "conflict")
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["user_id"] == str(student)
    stored = await Enrollments(api.db).list()
    assert [(str(e.course_id), e.user_id) for e in stored] == [(course["id"], student)]
    hidden = await api.request(student, "POST", f"/courses/{draft['id']}/enrollments", json={})
    assert_problem(hidden, 404, "not-found")


async def test_g4_the_history_route_pages_the_audit_trail_oldest_first(api: CoursesApi) -> None:
    owner = uuid7()
    course = await api.published_course(owner)
    for n in range(3):
        renamed = await api.request(
            owner, "POST", f"/courses/{course['id']}/rename", json={"title": f"T{n}"}
        )
        assert renamed.status_code == 200
    url = f"/courses/{course['id']}/history"

    first = await api.request(owner, "GET", url, params={"limit": 3})
    assert first.status_code == 200, first.text
    page = first.json()
    second = (await api.request(owner, "GET", url, params={"cursor": page["next_cursor"]})).json()

    actions = [e["action"] for e in page["items"] + second["items"]]
    assert actions == ["create", "update", "update", "update", "update"]
    assert second["next_cursor"] is None
    assert page["items"][1]["changes"]["status"] == ["draft", "published"]
    assert_problem(
        await api.request(owner, "GET", url, params={"cursor": "x" * 30}), 400, "invalid-input"
    )
    assert_problem(
        await api.request(owner, "GET", url, params={"sort": "id"}), 400, "invalid-input"
    )
    assert_problem(await api.request(owner, "GET", url, params={"limit": 0}), 422, "invalid-input")


async def test_the_history_of_a_deleted_resource_stays_readable(api: CoursesApi) -> None:
    owner = uuid7()
    course = await api.new_course(owner)
    await api.request(owner, "DELETE", f"/courses/{course['id']}", headers={"If-Match": '"1"'})

    history = await api.request(owner, "GET", f"/courses/{course['id']}/history")

    assert [e["action"] for e in history.json()["items"]] == ["create", "delete"]


async def test_any_of_filters_select_rows_matching_either(api: CoursesApi) -> None:
    owner, other = uuid7(), uuid7()
    mine = await api.new_course(owner, "Mine")
    theirs_public = await api.published_course(other, "Theirs public")
    await api.new_course(other, "Theirs draft")

    visible = (await api.request(owner, "GET", "/courses", params={"sort": "title"})).json()
    filtered = await Courses(api.db).list(where("title").startswith("Theirs"))

    assert [c["id"] for c in visible["items"]] == [mine["id"], theirs_public["id"]]
    assert len(filtered) == 2


async def test_anonymous_callers_read_the_catalogue_and_write_nothing(api: CoursesApi) -> None:
    owner = uuid7()
    course = await api.published_course(owner)
    draft = await api.new_course(owner, "Draft")
    if_match = {"If-Match": '"2"'}

    listed = await api.request(None, "GET", "/courses")
    assert [c["id"] for c in listed.json()["items"]] == [course["id"]]
    assert (await api.request(None, "GET", f"/courses/{course['id']}")).status_code == 200
    assert_problem(await api.request(None, "GET", f"/courses/{draft['id']}"), 404, "not-found")
    writes = [
        await api.request(None, "POST", "/courses", json={"title": "Mine"}),
        await api.request(
            None, "PATCH", f"/courses/{course['id']}", json={"title": "x"}, headers=if_match
        ),
        await api.request(None, "DELETE", f"/courses/{course['id']}", headers=if_match),
        await api.request(None, "POST", f"/courses/{course['id']}/rename", json={"title": "x"}),
    ]
    for response in writes:
        assert_problem(response, 401, "unauthenticated")
    assert await Courses(api.db).count() == 2


async def test_the_erase_route_removes_the_course_and_its_values_for_good(api: CoursesApi) -> None:
    owner, reader, stranger = uuid7(), uuid7(), uuid7()
    course = await api.published_course(owner, "Personal notes of Ada")
    draft = await api.new_course(owner, "Draft")
    url = f"/courses/{course['id']}/erase"

    assert_problem(await api.request(owner, "POST", url), 428, "precondition-required")
    refused = await api.request(reader, "POST", url, headers={"If-Match": '"2"'})
    assert_problem(refused, 403, "permission-denied")
    hidden = await api.request(
        stranger, "POST", f"/courses/{draft['id']}/erase", headers={"If-Match": '"1"'}
    )
    assert_problem(hidden, 404, "not-found")
    erased = await api.request(owner, "POST", url, headers={"If-Match": '"2"'})

    assert erased.status_code == 204, erased.text
    assert_problem(
        await api.request(owner, "GET", f"/courses/{course['id']}/history"), 404, "not-found"
    )
    entries = await Courses(api.db).history(UUID(course["id"]))
    assert [e.action for e in entries] == ["create", "update", "erase"]
    assert "Personal notes of Ada" not in str([e.changes for e in entries])


def test_an_actions_precondition_and_status_follow_from_its_method_and_route() -> None:
    class Memberships:
        async def join(self, parent_id: UUID) -> None: ...
        async def leave(self, parent_id: UUID) -> None: ...
        async def rename(self, id: UUID, *, expected_version: int | None = None) -> None: ...
        async def ping(self, id: UUID) -> None: ...

    join = ResourceAction("join", Memberships.join, on="collection", path="")
    leave = ResourceAction("leave", Memberships.leave, on="collection", path="me", method="DELETE")
    rename = ResourceAction("rename", Memberships.rename)
    ping = ResourceAction("ping", Memberships.ping)
    assert [a.success_status for a in (join, leave, rename, ping)] == [201, 204, 200, 200]
    # If-Match only where the method can take the version it names.
    assert rename.precondition(versioned=True) is IfMatch.REQUIRED
    assert ping.precondition(versioned=True) is IfMatch.NONE
    assert rename.precondition(versioned=False) is IfMatch.NONE
    # A GET is a read: no precondition, no conflict to document, no body.
    summary = ResourceAction("summary", Memberships.rename, method="GET")
    assert (summary.precondition(versioned=True), summary.error_statuses) == (IfMatch.NONE, ())
    with pytest.raises(ValueError, match="a GET takes no body"):
        check_actions([ResourceAction("summary", Memberships.ping, method="GET", body=Count)])
    # What is said outright wins.
    explicit = ResourceAction("ping", Memberships.ping, status_code=202, if_match=IfMatch.OPTIONAL)
    assert (explicit.success_status, explicit.precondition(versioned=True)) == (
        202,
        IfMatch.OPTIONAL,
    )


async def test_a_resource_whose_fields_all_come_from_the_path_is_created_without_a_body(
    api: CoursesApi,
) -> None:
    course = await api.published_course(uuid7(), "Rust in practice")
    path = f"/courses/{course['id']}/enrollments"

    enrolled = await api.request(uuid7(), "POST", path)
    stray = await api.request(uuid7(), "POST", path, json={"user_id": str(uuid7())})

    assert enrolled.status_code == 201, enrolled.text
    assert_problem(stray, 422, "invalid-input")
    assert await Enrollments(api.db).count() == 1


async def test_an_actions_body_defaults_to_its_methods_further_parameters(api: CoursesApi) -> None:
    owner = uuid7()
    course = await api.new_course(owner)
    url = f"/courses/{course['id']}/retitle"

    retitled = await api.request(
        owner, "POST", url, json={"title": "Rust"}, headers={"If-Match": '"1"'}
    )
    assert retitled.status_code == 200, retitled.text
    assert retitled.json()["title"] == "Rust"
    for bad in ({"title": ""}, {}, None, {"title": "Go", "status": "x"}):  # as any body's rules
        refused = await api.request(owner, "POST", url, json=bad, headers={"If-Match": '"2"'})
        assert_problem(refused, 422, "invalid-input")
    operation = api.app.openapi()["paths"]["/courses/{id}/retitle"]["post"]
    schema_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = api.app.openapi()["components"]["schemas"][schema_ref.rsplit("/", 1)[-1]]
    assert body["required"] == ["title"]
    assert set(body["properties"]) == {"title"}  # not the id, not expected_version


async def test_what_an_action_answers_follows_from_its_methods_return_annotation(
    api: CoursesApi,
) -> None:
    owner, student = uuid7(), uuid7()
    course = await api.published_course(owner, "Rust in practice")
    url = f"/courses/{course['id']}"

    outline = await api.request(student, "GET", f"{url}/outline")
    joined = await api.request(student, "POST", f"{url}/join")
    bookmarked = await api.request(student, "POST", f"{url}/bookmark")

    assert outline.status_code == 200, outline.text
    assert outline.json() == {"title": "Rust in practice", "published": True}
    assert joined.status_code == 200, joined.text
    assert joined.json()["course_id"] == course["id"]
    assert joined.json()["user_id"] == str(student)
    assert (bookmarked.status_code, bookmarked.content) == (204, b"")
    paths = api.app.openapi()["paths"]

    def answer(path: str, method: str, status: str) -> str:
        content = paths[path][method]["responses"][status].get("content", {})
        return str(content.get("application/json", {}).get("schema", {}).get("$ref", ""))

    assert answer("/courses/{id}/outline", "get", "200").endswith("/CourseOutline")
    assert answer("/courses/{id}/join", "post", "200").endswith("/EnrollmentOut")
    assert "200" not in paths["/courses/{id}/bookmark"]["post"]["responses"]


async def test_a_get_action_takes_query_parameters_and_may_answer_a_list(
    api: CoursesApi,
) -> None:
    owner = uuid7()
    course = await api.published_course(owner, "Rust in practice")
    for title in ("Go basics", "C in depth", "Ada today"):
        await api.published_course(owner, title)
    url = f"/courses/{course['id']}/others"

    listed = await api.request(owner, "GET", url, params={"limit": 2, "mine": "true"})
    assert listed.status_code == 200, listed.text
    assert [c["title"] for c in listed.json()["items"]] == ["Ada today", "C in depth"]
    assert set(listed.json()["items"][0]) >= {"id", "title", "version"}  # the course's output
    assert len((await api.request(owner, "GET", url)).json()["items"]) == 3  # the defaults
    for bad in ({"limit": 0}, {"limit": "many"}, {"mine": "perhaps"}, {"sort": "title"}):
        assert_problem(await api.request(owner, "GET", url, params=bad), 422, "invalid-input")
    operation = api.app.openapi()["paths"]["/courses/{id}/others"]["get"]
    assert {p["name"] for p in operation["parameters"] if p["in"] == "query"} == {"limit", "mine"}


async def test_a_body_parameter_named_like_an_entity_field_takes_its_rules(
    api: CoursesApi,
) -> None:
    owner = uuid7()
    course = await api.new_course(owner)
    url = f"/courses/{course['id']}/headline"
    for bad in ("", "x" * 201):  # the entity's title: 1 to 200 characters
        refused = await api.request(
            owner, "POST", url, json={"title": bad}, headers={"If-Match": '"1"'}
        )
        assert_problem(refused, 422, "invalid-input")
    renamed = await api.request(
        owner, "POST", url, json={"title": "Go"}, headers={"If-Match": '"1"'}
    )
    assert renamed.status_code == 200, renamed.text
    schema = api.app.openapi()["components"]["schemas"]["HeadlineBody"]["properties"]["title"]
    assert (schema["minLength"], schema["maxLength"]) == (1, 200)
