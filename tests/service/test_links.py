"""``Links``: many-to-many links declared on a service, on SQLite and PostgreSQL — a part
needs other parts (self-referential, acyclic), a part has labels (named, made on demand) —
run through the service (G10: scope and write rules) and mounted by ``ResourceAction.links``;
and ``References(X, within=...)``, a reference that never crosses to another team (G10)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from tests.service.teams_app import (
    MEMBERS,
    DrawingService,
    LabelService,
    Member,
    Needs,
    Part,
    PartLabel,
    PartService,
    fresh_teams,
    member_from_header,
    team_with_parts,
)

from lamina.api import ApiSettings, ResourceAction, Resources, Route, install
from lamina.domain import (
    AlreadyExists,
    Conflict,
    Entity,
    InvalidInput,
    NotFound,
    PermissionDenied,
    References,
    VersionConflict,
    uuid7,
)
from lamina.persistence import Database, repository_for
from lamina.service import Links


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    async for database in fresh_teams(db_url):
        yield database


async def test_g10_links_are_added_listed_and_removed_through_the_service(db: Database) -> None:
    member, p = await team_with_parts(db, "axle", "bolt", "cog")
    parts = PartService(db, member)

    await parts.needs.add(p["axle"].id, p["cog"].id)
    await parts.needs.add(p["axle"].id, p["bolt"].id)
    await parts.needs.add(p["bolt"].id, p["cog"].id)

    assert [x.name for x in await parts.needs.linked(p["axle"].id)] == ["bolt", "cog"]
    assert [x.name for x in await parts.needs.linked(p["cog"].id)] == []
    with pytest.raises(AlreadyExists):
        await parts.needs.add(p["axle"].id, p["cog"].id)
    await parts.needs.remove(p["axle"].id, p["cog"].id)
    assert [x.name for x in await parts.needs.linked(p["axle"].id)] == ["bolt"]
    assert [x.name for x in await parts.needs.linked(p["axle"].id, transitive=True)] == [
        "bolt",
        "cog",
    ]
    with pytest.raises(NotFound):
        await parts.needs.remove(p["axle"].id, p["cog"].id)
    stored = await repository_for(Needs)(db).list()
    assert {n.team_id for n in stored} == {p["axle"].team_id}  # where the link lives


async def test_an_ordered_link_keeps_its_ends_in_order(db: Database) -> None:
    member, p = await team_with_parts(db, "frame", "weld", "paint", "dry")
    parts = PartService(db, member)
    frame = p["frame"]

    await parts.steps.replace(frame.id, [p["weld"].id, p["paint"].id, p["dry"].id, p["paint"].id])
    assert [x.name for x in await parts.steps.linked(frame.id)] == ["weld", "paint", "dry", "paint"]
    await parts.steps.remove(frame.id, p["paint"].id)  # every time it comes
    await parts.steps.add(frame.id, p["weld"].id)  # appended
    assert [x.name for x in await parts.steps.linked(frame.id)] == ["weld", "dry", "weld"]

    with pytest.raises(NotFound):
        await parts.steps.replace(frame.id, [p["dry"].id, uuid7()])
    with pytest.raises(VersionConflict):
        await parts.steps.replace(frame.id, [], expected_version=frame.version + 1)
    assert [x.name for x in await parts.steps.linked(frame.id)] == ["weld", "dry", "weld"]
    await parts.steps.replace(frame.id, [], expected_version=frame.version)
    assert await parts.steps.linked(frame.id) == []


async def test_replacing_unordered_links_keeps_each_end_once_and_refuses_cycles(
    db: Database,
) -> None:
    member, p = await team_with_parts(db, "a", "b", "c")
    parts = PartService(db, member)
    await parts.needs.add(p["b"].id, p["a"].id)

    await parts.needs.replace(p["a"].id, [p["c"].id, p["c"].id])
    assert [x.name for x in await parts.needs.linked(p["a"].id)] == ["c"]
    with pytest.raises(Conflict, match="a → b → a"):
        await parts.needs.replace(p["a"].id, [p["c"].id, p["b"].id])
    assert [x.name for x in await parts.needs.linked(p["a"].id)] == ["c"]  # all or nothing


async def test_a_link_closing_a_cycle_is_a_conflict_naming_it(db: Database) -> None:
    member, p = await team_with_parts(db, "a", "b", "c")
    parts = PartService(db, member)
    await parts.needs.add(p["a"].id, p["b"].id)
    await parts.needs.add(p["b"].id, p["c"].id)

    with pytest.raises(Conflict, match="would close a cycle: c → a → b → c"):
        await parts.needs.add(p["c"].id, p["a"].id)
    with pytest.raises(Conflict, match="a → a"):
        await parts.needs.add(p["a"].id, p["a"].id)
    assert len(await repository_for(Needs)(db).list()) == 2


async def test_concurrent_links_never_close_a_cycle(db: Database) -> None:
    member, p = await team_with_parts(db, "a", "b", "c", "d", "e")
    parts = PartService(db, member)
    ring = list(p.values())

    async def link(x: Part, y: Part) -> str:
        try:
            await parts.needs.add(x.id, y.id)
        except Conflict:
            return "refused"
        return "linked"

    outcomes = await asyncio.gather(
        *(link(x, y) for x, y in zip(ring, ring[1:] + ring[:1], strict=True))
    )
    assert sorted(outcomes) == ["linked"] * 4 + ["refused"]
    for part in ring:
        reached = await parts.needs.linked(part.id, transitive=True)
        assert part.id not in [r.id for r in reached]


async def test_g10_other_ends_outside_the_scope_or_elsewhere_are_not_found(db: Database) -> None:
    member, p = await team_with_parts(db, "mine")
    stranger, q = await team_with_parts(db, "theirs")
    both = Member(member.id, (*member.teams, *stranger.teams))

    with pytest.raises(NotFound):  # not seen at all
        await PartService(db, member).needs.add(p["mine"].id, q["theirs"].id)
    with pytest.raises(NotFound):  # seen, but in another team than the part
        await PartService(db, both).needs.add(p["mine"].id, q["theirs"].id)
    with pytest.raises(NotFound):  # the part itself is not seen
        await PartService(db, stranger).needs.linked(p["mine"].id)
    reader = Member(uuid7(), member.teams, reader=True)
    await PartService(db, member).labels.add(p["mine"].id, "steel")
    with pytest.raises(PermissionDenied):
        await PartService(db, reader).labels.add(p["mine"].id, "brass")
    with pytest.raises(PermissionDenied):
        await PartService(db, reader).labels.remove(p["mine"].id, "steel")
    assert [x.name for x in await PartService(db, reader).labels.linked(p["mine"].id)] == ["steel"]


async def test_a_named_end_is_made_once_and_linking_again_is_nothing(db: Database) -> None:
    member, p = await team_with_parts(db, "axle", "bolt")
    parts = PartService(db, member)

    await parts.labels.add(p["axle"].id, "steel")
    await parts.labels.add(p["axle"].id, "steel")  # again_ok
    with pytest.raises(InvalidInput):  # what the label's name refuses
        await parts.labels.add(p["axle"].id, "Not a label")
    await parts.labels.add(p["bolt"].id, "steel")
    await parts.labels.add(p["bolt"].id, "cheap")

    labels = await LabelService(db, member).scoped()
    assert sorted(x.name for x in await labels.list()) == ["cheap", "steel"]
    assert [x.name for x in await parts.labels.linked(p["bolt"].id)] == ["cheap", "steel"]
    await parts.labels.remove(p["bolt"].id, "cheap")
    with pytest.raises(NotFound):
        await parts.labels.remove(p["bolt"].id, "cheap")
    with pytest.raises(NotFound):
        await parts.labels.remove(p["bolt"].id, "never")


def test_links_are_checked_when_declared() -> None:
    with pytest.raises(TypeError, match="no field 'nope'"):
        Links(repository_for(Needs), "part_id", "nope")
    with pytest.raises(TypeError, match="needs `by`"):
        Links(repository_for(PartLabel), "part_id", "label_id", to=LabelService, create=True)

    class Odd(PartService):
        odd = Links(repository_for(PartLabel), "part_id", "label_id", to=LabelService, acyclic=True)

    with pytest.raises(TypeError, match=r"Odd.odd: only a link between alike is acyclic"):
        ResourceAction.links(Odd, "odd")


async def test_g10_a_reference_within_the_team_never_names_another_teams_entity(
    db: Database,
) -> None:
    member, p = await team_with_parts(db, "mine")
    stranger, q = await team_with_parts(db, "theirs")
    both = Member(member.id, (*member.teams, *stranger.teams))
    drawings = DrawingService(db, both)
    team = member.teams[0]

    drawing = await drawings.create({"team_id": team, "part_id": p["mine"].id})
    with pytest.raises(NotFound, match="Part"):  # seen by the caller, but another team's
        await drawings.create({"team_id": team, "part_id": q["theirs"].id})
    with pytest.raises(NotFound):
        await drawings.update(drawing.id, {"part_id": q["theirs"].id})
    with pytest.raises(NotFound):
        await drawings.create({"team_id": team, "part_id": uuid7()})
    assert (await drawings.update(drawing.id, {"part_id": None})).part_id is None
    assert await drawings.create({"team_id": stranger.teams[0], "part_id": q["theirs"].id})


def test_a_reference_within_a_field_the_entities_lack_is_refused() -> None:
    with pytest.raises(TypeError, match=r"References\(Part, within='nope'\): no such field"):
        References(Part, within="nope")

    class Loose(Entity):
        part_id: Annotated[UUID, References(Part, within="team_id")]

    with pytest.raises(TypeError, match="no team_id here"):
        Loose.references_within()


# ---------------------------------------------------------------- over HTTP


@pytest.fixture
async def http(db: Database) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Part]]]:
    member, parts = await team_with_parts(db, "axle", "bolt", "cog")
    MEMBERS[member.id] = member
    app = FastAPI()
    install(app, ApiSettings(access_log=False))
    resources = Resources(db, member_from_header)
    app.include_router(
        resources.router(
            PartService,
            path="/parts",
            routes={Route.GET, Route.LIST},
            query_filters={"label": PartService.labels.having},
            actions=[
                *ResourceAction.links(PartService, "needs"),
                *ResourceAction.links(PartService, "labels", param="label", answer_item=True),
            ],
        )
    )
    transport = httpx.ASGITransport(app=app)
    headers = {"X-Member": str(member.id)}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        yield c, parts


async def test_resource_action_links_mounts_add_remove_and_list(
    http: tuple[httpx.AsyncClient, dict[str, Part]],
) -> None:
    client, p = http
    axle, bolt, cog = (p[n].id for n in ("axle", "bolt", "cog"))

    assert (await client.post(f"/parts/{axle}/needs/{bolt}")).status_code == 204
    assert (await client.post(f"/parts/{bolt}/needs/{cog}")).status_code == 204
    again = await client.post(f"/parts/{axle}/needs/{bolt}")
    assert again.status_code == 409
    cycle = await client.post(f"/parts/{cog}/needs/{axle}")
    assert (cycle.status_code, cycle.headers["content-type"]) == (409, "application/problem+json")
    assert "cog → axle → bolt → cog" in cycle.json()["detail"]
    direct = (await client.get(f"/parts/{axle}/needs")).json()
    assert [x["name"] for x in direct["items"]] == ["bolt"]
    every = (await client.get(f"/parts/{axle}/needs?transitive=true")).json()
    assert [x["name"] for x in every["items"]] == ["bolt", "cog"]
    assert (await client.get(f"/parts/{axle}/needs?deep=1")).status_code == 422
    assert (await client.post(f"/parts/{axle}/needs/not-an-id")).status_code == 422
    assert (await client.post(f"/parts/{axle}/needs/{uuid7()}")).status_code == 404
    assert (await client.delete(f"/parts/{axle}/needs/{bolt}")).status_code == 204
    assert (await client.delete(f"/parts/{axle}/needs/{bolt}")).status_code == 404

    labelled = await client.post(f"/parts/{axle}/labels/steel")  # answer_item: the part
    assert (labelled.status_code, labelled.json()["name"]) == (200, "axle")
    assert labelled.headers["etag"]
    assert (await client.post(f"/parts/{axle}/labels/steel")).status_code == 200
    await client.post(f"/parts/{bolt}/labels/brass")
    found = (await client.get("/parts?label=steel")).json()["items"]
    assert [x["name"] for x in found] == ["axle"]
    assert (await client.get("/parts?label=NOT%20OK")).status_code == 400  # as any bad filter
    unlabelled = await client.delete(f"/parts/{bolt}/labels/brass")
    assert (unlabelled.status_code, unlabelled.json()["name"]) == (200, "bolt")
    bad = await client.post(f"/parts/{axle}/labels/NOT%20OK")
    assert bad.status_code == 422, bad.text
    labels = (await client.get(f"/parts/{axle}/labels")).json()
    assert [x["name"] for x in labels["items"]] == ["steel"]
    openapi = (await client.get("/openapi.json")).json()
    assert "/parts/{id}/labels/{label}" in openapi["paths"]
