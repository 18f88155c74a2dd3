"""List endpoints: declared filters and sorts only, bounded limits, opaque cursors (G5, G6, G11)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest
from tests.service.projects_app import Projects, ProjectsApi, Tasks, new_user, projects_api

from lamina.api import PROBLEM_MEDIA_TYPE

INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE rs_projects; --",
    '" OR ""="',
    "1; SELECT pg_sleep(1)",
    "%' OR 1=1 --",
    "\\'; DELETE FROM rs_tasks; --",
    "name) OR (1=1",
    "_%",
]


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[ProjectsApi]:
    async with projects_api(db_url) as client:
        yield client


async def get(api: ProjectsApi, user: Any, url: str) -> Any:
    return await api.request(user, "GET", url)


def assert_bad_request(response: Any, field: str | None = None) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"].endswith("/invalid-input")
    if field is not None:
        assert [e["field"] for e in body["errors"]] == [field]


async def seeded(api: ProjectsApi) -> tuple[Any, str]:
    user = new_user()
    project = await api.new_project(user, name="p")
    specs = [
        ("Write docs", 3, True, "2031-01-01T00:00:00Z"),
        ("write tests", 5, False, None),
        ("Review", None, False, "2030-06-01T12:00:00+02:00"),
        ("Release", 8, False, None),
        ("100% done_ish", 1, True, None),
    ]
    for title, estimate, done, due in specs:
        await api.new_task(
            user, project["id"], title=title, estimate=estimate, done=done, due_at=due
        )
    return user, f"/projects/{project['id']}/tasks"


def titles(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


async def test_filters_on_declared_fields_and_operators(api: ProjectsApi) -> None:
    user, url = await seeded(api)

    assert titles(await get(api, user, f"{url}?title__icontains=WRITE&sort=title")) == [
        "Write docs",
        "write tests",
    ]
    assert titles(await get(api, user, f"{url}?title__startswith=Re&sort=-title")) == [
        "Review",
        "Release",
    ]
    assert titles(await get(api, user, f"{url}?title__icontains=%25&sort=title")) == [
        "100% done_ish"
    ]
    assert titles(await get(api, user, f"{url}?done=true&sort=title")) == [
        "100% done_ish",
        "Write docs",
    ]
    assert titles(await get(api, user, f"{url}?estimate__ge=3&estimate__lt=8&sort=estimate")) == [
        "Write docs",
        "write tests",
    ]
    assert titles(await get(api, user, f"{url}?estimate__is_null=true")) == ["Review"]
    due = quote("2030-12-31T00:00:00+00:00")
    assert titles(await get(api, user, f"{url}?due_at__lt={due}")) == ["Review"]
    projects = await get(api, user, "/projects?status__in=open,closed&priority__le=0")
    assert [p["name"] for p in projects.json()["items"]] == ["p"]
    counted = await get(api, user, f"{url}/count?done=false")
    assert counted.json() == {"count": 3}


async def test_query_aliases_name_filters_shortly(api: ProjectsApi) -> None:
    user = new_user()
    for name in ("Apollo", "Gemini", "apollo soyuz"):
        await api.new_project(user, name=name)
    found = await get(api, user, "/projects?q=APOLLO&sort=name")
    assert [p["name"] for p in found.json()["items"]] == ["Apollo", "apollo soyuz"]
    assert_bad_request(await get(api, user, "/projects?q=" + quote("\x00")), "q")


async def test_g6_following_cursors_returns_every_row_once(api: ProjectsApi) -> None:
    user, url = await seeded(api)
    for sort in ("estimate", "-estimate", "title", "-due_at,title", "-created_at"):
        seen: list[str] = []
        cursor: str | None = None
        while True:
            query = f"{url}?limit=2&sort={sort}" + (f"&cursor={cursor}" if cursor else "")
            body = (await get(api, user, query)).json()
            assert len(body["items"]) <= 2
            seen += [item["id"] for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 5, sort


async def test_g5_unknown_or_undeclared_fields_and_operators_are_400(api: ProjectsApi) -> None:
    user, url = await seeded(api)
    for query, field in [
        ("bogus=1", "bogus"),
        ("title__regex=x", "title__regex"),
        ("title__contains=x", "title__contains"),
        ("created_by_id=x", "created_by_id"),
        ("estimate__between=1", "estimate__between"),
        ("project_id=" + str(new_user()), "project_id"),
        ("title=a&title=b", "title"),
        ("sort=bogus", "sort"),
        ("sort=-done", "sort"),
        ("sort=title;DROP TABLE rs_tasks", "sort"),
        ("sort=", "sort"),
        ("estimate=abc", "estimate"),
        ("estimate=99999999999", "estimate"),
        ("done=maybe", "done"),
        ("due_at__lt=2030-01-01T00:00:00", "due_at__lt"),
        ("estimate__is_null=perhaps", "estimate__is_null"),
        ("title=" + quote("a\x00b"), "title"),
        ("title__icontains=" + "x" * 1001, "title__icontains"),
    ]:
        assert_bad_request(await get(api, user, f"{url}?{query}"), field)
    assert_bad_request(await get(api, user, "/projects?api_key=secret"), "api_key")
    prefix = await get(api, user, "/projects?api_key__startswith=a")
    assert_bad_request(prefix, "api_key__startswith")
    assert_bad_request(await get(api, user, f"{url}/count?limit=2"), "limit")
    for text_only in ("priority__icontains=1", "created_at__startswith=2026"):  # LIKE needs text
        assert_bad_request(await get(api, user, f"/projects?{text_only}"), text_only.split("=")[0])


async def test_limits_are_bounded(api: ProjectsApi) -> None:
    user, url = await seeded(api)
    for limit in ("0", "101", "-1", "abc", "1.5", "\uff11", "\u00b2", "9" * 5000):
        assert_bad_request(await get(api, user, f"{url}?limit={quote(limit)}"), "limit")
    assert len((await get(api, user, f"{url}?limit=100")).json()["items"]) == 5
    assert len((await get(api, user, f"{url}?limit=1")).json()["items"]) == 1


async def test_malformed_tampered_and_foreign_cursors_are_400(api: ProjectsApi) -> None:
    user, url = await seeded(api)
    first = (await get(api, user, f"{url}?limit=2&sort=title")).json()
    cursor = first["next_cursor"]
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[-3] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    for bad in ("not-a-cursor", "%%%", "A" * 5000, tampered, cursor[:-2]):
        response = await get(api, user, f"{url}?limit=2&sort=title&cursor={quote(bad)}")
        assert_bad_request(response, "cursor")
    other_sort = await get(api, user, f"{url}?limit=2&sort=-title&cursor={cursor}")
    assert_bad_request(other_sort, "cursor")
    still = await get(api, user, f"{url}?limit=2&sort=title&cursor={cursor}")
    assert len(still.json()["items"]) == 2


async def test_g11_sql_injection_in_values_and_names_never_reaches_sql(api: ProjectsApi) -> None:
    user, url = await seeded(api)
    before = await Tasks(api.db).count()
    for text in INJECTIONS:
        value = quote(text)
        for query in (
            f"title={value}",
            f"title__icontains={value}",
            f"title__in={value},x",
            f"sort={value}",
            f"{value}=1",
            f"title__{value}=1",
            f"cursor={value}",
            f"estimate={value}",
        ):
            response = await get(api, user, f"{url}?{query}")
            assert response.status_code in (200, 400), (query, response.text)
            if response.status_code == 200:
                assert response.json()["items"] == [], query
            else:
                assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
        created = await api.request(user, "POST", url, json={"title": text})
        assert created.status_code == 201
        found = await get(api, user, f"{url}?title={value}")
        assert titles(found) == [text]
    assert await Tasks(api.db).count() == before + len(INJECTIONS)
    assert await Projects(api.db).count() == 1
