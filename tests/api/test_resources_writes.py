"""Writes over HTTP: server-owned fields refused (G12), ETag / If-Match (G2), policies, restore."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
from tests.service.projects_app import Membership, Memberships, Projects, ProjectsApi, new_user
from tests.service.projects_app import projects_api as open_api

from lamina.api import PROBLEM_MEDIA_TYPE

SERVER_OWNED_VALUES: dict[str, Any] = {
    "id": "01890a5d-ac96-774b-bcce-b302099a8057",
    "created_at": "2020-01-01T00:00:00Z",
    "updated_at": "2020-01-01T00:00:00Z",
    "version": 42,
    "deleted_at": "2020-01-01T00:00:00Z",
    "created_by_id": "01890a5d-ac96-774b-bcce-b302099a8057",
    "updated_by_id": "01890a5d-ac96-774b-bcce-b302099a8057",
    "unknown_field": "x",
}


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[ProjectsApi]:
    async with open_api(db_url) as client:
        yield client


def assert_problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + kind), body
    return body


@pytest.mark.parametrize("field", sorted(SERVER_OWNED_VALUES))
async def test_g12_server_owned_and_unknown_fields_in_a_create_are_422(
    api: ProjectsApi, field: str
) -> None:
    user = new_user()
    body = {"name": "p", field: SERVER_OWNED_VALUES[field]}

    response = await api.request(user, "POST", "/projects", json=body)

    problem = assert_problem(response, 422, "invalid-input")
    assert [e["field"] for e in problem["errors"]] == [f"body.{field}"]
    assert await Projects(api.db).count(include_deleted=True) == 0


@pytest.mark.parametrize("field", sorted(SERVER_OWNED_VALUES))
async def test_g12_server_owned_and_unknown_fields_in_an_update_are_422(
    api: ProjectsApi, field: str
) -> None:
    user = new_user()
    project = await api.new_project(user, name="p")
    body = {"name": "changed", field: SERVER_OWNED_VALUES[field]}

    response = await api.request(
        user, "PATCH", f"/projects/{project['id']}", json=body, headers={"If-Match": '"1"'}
    )

    assert_problem(response, 422, "invalid-input")
    after = await api.request(user, "GET", f"/projects/{project['id']}")
    assert after.json() == project


async def test_g12_read_only_and_path_fields_cannot_be_sent(api: ProjectsApi) -> None:
    user = new_user()
    project = await api.new_project(user)
    other = await api.new_project(user)
    task = await api.new_task(user, project["id"])

    planted = await api.request(
        user,
        "POST",
        f"/projects/{project['id']}/tasks",
        json={"title": "t", "project_id": other["id"]},
    )
    assert_problem(planted, 422, "invalid-input")
    moved = await api.request(
        user,
        "PATCH",
        f"/tasks/{task['id']}",
        json={"project_id": other["id"]},
        headers={"If-Match": '"1"'},
    )
    assert_problem(moved, 422, "invalid-input")
    assert (await api.request(user, "GET", f"/tasks/{task['id']}")).json() == task


async def test_sensitive_fields_are_accepted_but_never_returned(api: ProjectsApi) -> None:
    user = new_user()
    created = await api.request(user, "POST", "/projects", json={"name": "p", "api_key": "k-123"})
    assert created.status_code == 201
    assert "api_key" not in created.json()
    assert "k-123" not in created.text
    stored = await Projects(api.db).get(UUID(created.json()["id"]))
    assert stored.api_key == "k-123"
    listed = await api.request(user, "GET", "/projects")
    assert "k-123" not in listed.text


async def test_create_answers_201_with_etag_and_location(api: ProjectsApi) -> None:
    user = new_user()
    response = await api.request(user, "POST", "/projects", json={"name": "p", "priority": 2})
    assert response.status_code == 201
    body = response.json()
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"http://testserver/projects/{body['id']}"
    assert body["created_by_id"] == str(user)
    assert (body["version"], body["priority"], body["status"]) == (1, 2, "open")
    fetched = await api.request(user, "GET", response.headers["location"])
    assert fetched.headers["etag"] == '"1"'
    assert fetched.json() == body


async def test_g2_update_needs_the_current_if_match(api: ProjectsApi) -> None:
    user = new_user()
    project = await api.new_project(user, name="before")
    url = f"/projects/{project['id']}"

    missing = await api.request(user, "PATCH", url, json={"name": "x"})
    assert_problem(missing, 428, "precondition-required")
    wildcard = await api.request(user, "PATCH", url, json={"name": "x"}, headers={"If-Match": "*"})
    assert_problem(wildcard, 428, "precondition-required")
    for malformed in ('W/"1"', "1", '"1", "2"', '"abc"', '"' + "9" * 30 + '"'):
        response = await api.request(
            user, "PATCH", url, json={"name": "x"}, headers={"If-Match": malformed}
        )
        assert_problem(response, 400, "invalid-input")
    stale = await api.request(user, "PATCH", url, json={"name": "x"}, headers={"If-Match": '"7"'})
    problem = assert_problem(stale, 412, "version-conflict")
    assert (problem["expected_version"], problem["actual_version"]) == (7, 1)
    assert (await api.request(user, "GET", url)).json() == project

    right = await api.request(
        user, "PATCH", url, json={"name": "after"}, headers={"If-Match": '"1"'}
    )
    assert right.status_code == 200
    assert right.headers["etag"] == '"2"'
    assert (right.json()["name"], right.json()["version"]) == ("after", 2)
    again = await api.request(user, "PATCH", url, json={"name": "x"}, headers={"If-Match": '"1"'})
    assert_problem(again, 412, "version-conflict")
    assert (await api.request(user, "GET", url)).headers["etag"] == '"2"'


async def test_g2_partial_update_changes_only_the_fields_sent(api: ProjectsApi) -> None:
    user = new_user()
    project = await api.new_project(user, name="p", description="keep me", priority=4)
    url = f"/projects/{project['id']}"

    response = await api.request(
        user, "PATCH", url, json={"priority": 5}, headers={"If-Match": '"1"'}
    )
    assert (response.json()["description"], response.json()["priority"]) == ("keep me", 5)
    cleared = await api.request(
        user, "PATCH", url, json={"description": None}, headers={"If-Match": '"2"'}
    )
    assert cleared.json()["description"] is None
    null_name = await api.request(
        user, "PATCH", url, json={"name": None}, headers={"If-Match": '"3"'}
    )
    assert_problem(null_name, 422, "invalid-input")
    nothing = await api.request(user, "PATCH", url, json={}, headers={"If-Match": '"3"'})
    assert (nothing.status_code, nothing.headers["etag"]) == (200, '"3"')


async def test_g2_concurrent_updates_with_the_same_if_match_let_exactly_one_through(
    api: ProjectsApi,
) -> None:
    user = new_user()
    project = await api.new_project(user)
    url = f"/projects/{project['id']}"

    responses = await asyncio.gather(
        *[
            api.request(user, "PATCH", url, json={"priority": n}, headers={"If-Match": '"1"'})
            for n in range(1, 7)
        ]
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 5
    (winner,) = [r for r in responses if r.status_code == 200]
    final = await api.request(user, "GET", url)
    assert final.json()["priority"] == winner.json()["priority"]
    assert final.json()["version"] == 2


async def test_g2_delete_needs_the_current_if_match_and_restore_brings_it_back(
    api: ProjectsApi,
) -> None:
    user = new_user()
    project = await api.new_project(user)
    url = f"/projects/{project['id']}"

    assert_problem(await api.request(user, "DELETE", url), 428, "precondition-required")
    stale = await api.request(user, "DELETE", url, headers={"If-Match": '"2"'})
    assert_problem(stale, 412, "version-conflict")
    assert (await api.request(user, "GET", url)).status_code == 200

    deleted = await api.request(user, "DELETE", url, headers={"If-Match": '"1"'})
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert_problem(await api.request(user, "GET", url), 404, "not-found")
    listed = await api.request(user, "GET", "/projects")
    assert listed.json()["items"] == []
    twice = await api.request(user, "DELETE", url, headers={"If-Match": '"2"'})
    assert_problem(twice, 404, "not-found")

    stale_restore = await api.request(user, "POST", f"{url}/restore", headers={"If-Match": '"1"'})
    assert_problem(stale_restore, 412, "version-conflict")
    restored = await api.request(user, "POST", f"{url}/restore", headers={"If-Match": '"2"'})
    assert (restored.status_code, restored.headers["etag"]) == (200, '"3"')
    assert restored.json()["deleted_at"] is None
    assert (await api.request(user, "GET", url)).status_code == 200
    live = await api.request(user, "POST", f"{url}/restore")
    assert_problem(live, 409, "conflict")


async def test_policy_refusals_on_visible_rows_are_403(api: ProjectsApi) -> None:
    creator, member = new_user(), new_user()
    project = await api.new_project(creator)
    await Memberships(api.db).add(Membership(user_id=member, project_id=UUID(project["id"])))
    task = await api.new_task(creator, project["id"], done=True)

    refused = await api.request(
        member, "DELETE", f"/projects/{project['id']}", headers={"If-Match": '"1"'}
    )
    assert_problem(refused, 403, "permission-denied")
    renamed = await api.request(
        member, "PATCH", f"/tasks/{task['id']}", json={"title": "x"}, headers={"If-Match": '"1"'}
    )
    assert_problem(renamed, 403, "permission-denied")
    assert (await api.request(member, "GET", f"/tasks/{task['id']}")).json() == task


async def test_g11_bodies_the_database_cannot_store_are_4xx(api: ProjectsApi) -> None:
    user = new_user()
    project = await api.new_project(user)
    url = f"/projects/{project['id']}/tasks"
    refused: list[Any] = [
        {"title": "t", "estimate": 2**63},
        {"title": "t", "due_at": "2024-01-01T00:00:00"},
        {"title": "t", "due_at": "0001-01-01T00:00:00+05:00"},
        {"title": "x" * 201},
        ["not", "an", "object"],
        "'; DROP TABLE rs_tasks; --",
    ]
    for body in refused:
        response = await api.request(user, "POST", url, json=body)
        assert 400 <= response.status_code < 500, (body, response.text)
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    # SQLite would store these where PostgreSQL cannot (int4 overflow, NUL in text): both
    # databases answer alike.
    for body, expected in (({"title": "t", "estimate": 2**40}, 400), ({"title": "\x00"}, 422)):
        response = await api.request(user, "POST", url, json=body)
        assert response.status_code == expected, (body, response.text)
    tasks = await api.request(user, "GET", url, params={"estimate": str(2**40)})
    assert tasks.status_code == 400
    broken = await api.request(
        user, "POST", url, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(broken, 422, "invalid-input")
