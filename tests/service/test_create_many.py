"""``Service.create_many`` and ``Route.CREATE_MANY``: many items created at once, all or none,
each checked as a create is (G10), with their audit entries (G4), on SQLite and PostgreSQL; a
bound reference (``References(Part, within="team_id")``) places a new item where its part is."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI
from tests.service.teams_app import (
    MEMBERS,
    Drawing,
    DrawingService,
    Member,
    PartService,
    RevisionService,
    fresh_teams,
    member_from_header,
    team_with_parts,
)

from lamina.api import ApiSettings, CreateMany, Resources, Route, install
from lamina.domain import Entity, InvalidInput, NotFound, Numbered, PermissionDenied, uuid7
from lamina.persistence import Database, count_queries, repository_for


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    async for database in fresh_teams(db_url):
        yield database


async def stored_drawings(db: Database) -> list[Drawing]:
    return await repository_for(Drawing)(db).list()


async def test_g4_many_items_are_created_at_once_with_their_audit_entries(db: Database) -> None:
    member, p = await team_with_parts(db, "axle")
    drawings = DrawingService(db, member)

    made = await drawings.create_many(
        [{"title": "front"}, {"title": "side"}, {"title": "top"}], part_id=p["axle"].id
    )

    assert [d.title for d in made] == ["front", "side", "top"]
    assert {(d.part_id, d.team_id) for d in made} == {(p["axle"].id, p["axle"].team_id)}
    assert sorted(d.title for d in await stored_drawings(db)) == ["front", "side", "top"]
    entries = await drawings.history(made[1].id)
    assert [(e.action, e.actor_id) for e in entries] == [("create", member.id)]


async def test_the_place_of_a_bound_reference_is_its_entitys(db: Database) -> None:
    member, p = await team_with_parts(db, "axle")
    made = await DrawingService(db, member).create({"part_id": p["axle"].id, "title": "x"})
    assert made.team_id == p["axle"].team_id
    with pytest.raises(NotFound, match="Part"):
        await DrawingService(db, member).create({"part_id": uuid7(), "title": "x"})


async def test_g10_one_bad_item_stores_none(db: Database) -> None:
    member, _ = await team_with_parts(db, "axle")
    stranger, q = await team_with_parts(db, "theirs")
    both = Member(member.id, (*member.teams, *stranger.teams))
    reader = Member(uuid7(), member.teams, reader=True)
    team = member.teams[0]
    good = {"team_id": team, "title": "fine"}

    with pytest.raises(InvalidInput):
        await DrawingService(db, member).create_many([good, {"team_id": team, "title": ""}])
    with pytest.raises(NotFound):  # another team's: not seen
        await DrawingService(db, member).create_many([good, {"team_id": stranger.teams[0]}])
    with pytest.raises(NotFound):  # seen, but its part is in another team
        await DrawingService(db, both).create_many([good, {**good, "part_id": q["theirs"].id}])
    with pytest.raises(PermissionDenied):
        await DrawingService(db, reader).create_many([good])
    with pytest.raises(InvalidInput, match="server"):
        await DrawingService(db, member).create_many([{**good, "id": uuid7()}])
    assert await stored_drawings(db) == []


async def test_the_checks_read_once_per_place_not_per_item(db: Database) -> None:
    member, p = await team_with_parts(db, "axle", "bolt")
    drawings = DrawingService(db, member)

    async def queries(count: int) -> int:
        with count_queries() as tally:
            await drawings.create_many(
                [{"title": f"d{i}"} for i in range(count)], part_id=p["axle"].id
            )
        return tally.queries

    assert await queries(100) == await queries(300)  # both past the COPY threshold
    assert await queries(1) >= 1
    assert len(await stored_drawings(db)) == 401


async def test_numbered_fields_count_up_within_their_parent(db: Database) -> None:
    member, p = await team_with_parts(db, "axle", "bolt")
    revisions = RevisionService(db, member)

    first = [await revisions.create({"part_id": p["axle"].id}) for _ in range(3)]
    other = await revisions.create({"part_id": p["bolt"].id})
    more = await revisions.create_many([{}, {}], part_id=p["axle"].id)

    assert [r.number for r in first] == [1, 2, 3]
    assert other.number == 1
    assert [r.number for r in more] == [4, 5]


async def test_concurrent_creates_take_distinct_numbers(db: Database) -> None:
    member, p = await team_with_parts(db, "axle")
    revisions = RevisionService(db, member)

    made = await asyncio.gather(*(revisions.create({"part_id": p["axle"].id}) for _ in range(8)))
    assert sorted(r.number for r in made) == list(range(1, 9))


def test_numbered_within_a_field_the_entity_lacks_is_refused() -> None:
    class Odd(Entity):
        n: Annotated[int, Numbered("parent_id")] = 0

    with pytest.raises(TypeError, match=r"Numbered\('parent_id'\), no such field"):
        Odd.numbered()


# ---------------------------------------------------------------- over HTTP


@pytest.fixture
async def client(db: Database) -> AsyncIterator[tuple[httpx.AsyncClient, Member, dict]]:
    member, parts = await team_with_parts(db, "axle")
    MEMBERS[member.id] = member
    app = FastAPI()
    install(app, ApiSettings(access_log=False))
    resources = Resources(db, member_from_header)
    app.include_router(resources.router(PartService, path="/parts", routes={Route.GET}))
    app.include_router(
        resources.router(
            DrawingService,
            path="/parts/{part_id}/drawings",
            parent=PartService,
            routes={Route.LIST, Route.CREATE_MANY},
            create_many=CreateMany(items="drawings", max_items=3, answer="made"),
        )
    )
    transport = httpx.ASGITransport(app=app)
    headers = {"X-Member": str(member.id)}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        yield c, member, parts


async def test_route_create_many_takes_a_list_and_answers_how_many(
    db: Database, client: tuple[httpx.AsyncClient, Member, dict]
) -> None:
    http, member, p = client
    url = f"/parts/{p['axle'].id}/drawings"

    made = await http.post(url, json={"drawings": [{"title": "front"}, {}]})
    assert (made.status_code, made.json()) == (201, {"made": 2})
    listed = (await http.get(url)).json()["items"]
    assert sorted(d["title"] for d in listed) == ["front", "untitled"]
    for bad in (
        {"drawings": [{}] * 4},  # more than max_items
        {"drawings": []},
        {"drawings": [{"title": ""}]},
        {"drawings": [{"team_id": str(uuid7())}]},  # read-only
        {"drawings": [{}], "more": 1},
        {"items": [{}]},
    ):
        answer = await http.post(url, json=bad)
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    assert (
        await http.post(f"/parts/{uuid7()}/drawings", json={"drawings": [{}]})
    ).status_code == 404
    MEMBERS[reader.id] = (reader := Member(uuid7(), member.teams, reader=True))
    refused = await http.post(url, json={"drawings": [{}]}, headers={"X-Member": str(reader.id)})
    assert refused.status_code == 403
    assert len(await stored_drawings(db)) == 2
    openapi = (await http.get("/openapi.json")).json()
    operation = openapi["paths"]["/parts/{part_id}/drawings"]["post"]
    assert operation["operationId"] == "create_many_drawing"


def test_create_and_create_many_cannot_share_their_route(db: Database) -> None:
    resources = Resources(db, member_from_header)
    with pytest.raises(ValueError, match="CREATE and CREATE_MANY"):
        resources.router(DrawingService, path="/drawings", routes={Route.CREATE, Route.CREATE_MANY})
