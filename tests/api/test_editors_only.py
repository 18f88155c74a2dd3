"""``EDITORS_ONLY``: a field (on the entity or on a value object it holds) only those who may
change the entity read; everyone else gets None, in gets and in pages, over HTTP too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from pydantic import Field
from sqlalchemy.orm import DeclarativeBase
from tests.service.projects_app import User, optional_user_from_header

from lamina.api import ApiSettings, Resources, install, output_schema
from lamina.domain import (
    EDITORS_ONLY,
    READ_ONLY,
    StandardEntity,
    ValueObject,
    has_editors_only,
    hide_editors_only,
    uuid7,
)
from lamina.persistence import Base, Database, EntityColumns, new_metadata
from lamina.service import OwnedBy, Service


class Part(ValueObject):
    name: str
    cost: Annotated[int, Field(ge=0), EDITORS_ONLY]


class Offer(StandardEntity):
    owner_id: Annotated[UUID, READ_ONLY]
    title: str
    margin: Annotated[int, EDITORS_ONLY] = 0
    parts: list[Part] = Field(default_factory=list)


class OffersBase(EntityColumns, DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = Base.type_annotation_map


class OfferRow(OffersBase, entity=Offer, tablename="t_editors_only_offers"): ...


class OfferService(Service[Offer, User | None]):
    write_scope = OwnedBy("owner_id")  # everyone reads; the owner changes
    owner_field = "owner_id"


def test_hiding_reaches_value_objects_in_lists_and_leaves_the_original() -> None:
    offer = Offer(owner_id=uuid7(), title="t", margin=7, parts=[Part(name="a", cost=3)])
    hidden = hide_editors_only(offer)
    assert (hidden.margin, hidden.parts[0].cost, hidden.parts[0].name) == (None, None, "a")
    assert (offer.margin, offer.parts[0].cost) == (7, 3)
    assert has_editors_only(Offer)
    out = output_schema(Offer).model_json_schema()
    assert {"type": "null"} in out["properties"]["margin"]["anyOf"]
    part = out["$defs"]["PartOut"]["properties"]["cost"]
    assert {"type": "null"} in part["anyOf"]


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await database.drop_all(OffersBase.metadata)
    await database.create_all(OffersBase.metadata)
    yield database
    await database.drop_all(OffersBase.metadata)
    await database.close()


async def test_readers_get_none_where_editors_get_the_value(db: Database) -> None:
    ann, bob = User(uuid7()), User(uuid7())
    values = {"title": "bike", "margin": 40, "parts": [{"name": "wheel", "cost": 25}]}
    offer = await OfferService(db, ann).create(values)

    mine = await OfferService(db, ann).get(offer.id)
    theirs = await OfferService(db, bob).get(offer.id)
    anonymous = await OfferService(db, None).get(offer.id)
    assert (mine.margin, mine.parts[0].cost) == (40, 25)
    assert (theirs.margin, theirs.parts[0].cost) == (None, None)
    assert anonymous.margin is None
    assert await OfferService(db, ann).may_write(offer)
    assert not await OfferService(db, bob).may_write(offer)

    await OfferService(db, bob).create({"title": "car", "margin": 9})
    page = await OfferService(db, bob).page(order_by=["created_at"])  # one query decides all
    assert [(o.title, o.margin) for o in page.items] == [("bike", None), ("car", 9)]


async def test_over_http_the_field_is_null_for_readers(db: Database) -> None:
    ann = User(uuid7())
    offer = await OfferService(db, ann).create(
        {"title": "bike", "margin": 40, "parts": [{"name": "wheel", "cost": 25}]}
    )
    app = FastAPI()
    install(app, ApiSettings(access_log=False))
    app.include_router(
        Resources(db, optional_user_from_header).router(OfferService, path="/offers")
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        as_ann = {"X-Test-User": str(ann.id)}
        owned = (await client.get(f"/offers/{offer.id}", headers=as_ann)).json()
        read = (await client.get(f"/offers/{offer.id}")).json()
        listed = (await client.get("/offers")).json()["items"]
    assert (owned["margin"], owned["parts"][0]["cost"]) == (40, 25)
    assert (read["margin"], read["parts"]) == (None, [{"name": "wheel", "cost": None}])
    assert [o["margin"] for o in listed] == [None]
