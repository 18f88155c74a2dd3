"""``fields=`` (sparse fieldsets) on list and get routes, list filters that are no field of the
entity (``query_filters``), action path parameters typed by the method, on SQLModel rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from tests.persistence.sqlmodel_models import Plugin, Plugins, Tables

from lamina.api import (
    ApiSettings,
    IfMatch,
    ResourceAction,
    install,
    provide_service,
    resource_router,
)
from lamina.persistence import Database, Filter, Keyring, UnitOfWork, new_key, where
from lamina.service import Service

SECRET = "token-that-stays-hidden"


class Summary(BaseModel):
    id: UUID
    name: str


class PluginService(Service[Plugin, None]):
    repository = Plugins
    anonymous_writes = True

    async def label(self, id: UUID, label: str) -> Plugin:
        """Add a label (lower-cased) to the plugin."""

        async def adding(uow: UnitOfWork, plugin: Plugin) -> dict[str, Any]:
            return {"labels": [*plugin.labels, label.lower()]}

        return await self.act(id, "label", adding)

    async def copy(self, id: UUID) -> Summary:
        """A copy of the plugin, summarised."""
        plugin = await self.get(id)
        made = await self.create({"name": plugin.name + "-copy", "kind": plugin.kind})
        return Summary(id=made.id, name=made.name)


def heavy(value: str) -> Filter:
    return where("weight") >= 10 if value == "yes" else where("weight") < 10


async def nobody() -> None:
    """No authentication: these tests are about what is answered."""


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    db = Database(db_url, secret_key="fieldsets", keyring=Keyring.parse(f"k1={new_key()}"))
    await db.drop_all(Tables.metadata)
    await db.create_all(Tables.metadata)
    app = FastAPI()
    install(app, ApiSettings())
    app.include_router(
        resource_router(
            PluginService,
            provide=provide_service(PluginService, db, nobody),
            path="/plugins",
            query_filters={"heavy": heavy},
            actions=[
                ResourceAction(
                    "label", PluginService.label, path="labels/{label}", if_match=IfMatch.NONE
                ),
                ResourceAction(
                    "copy", PluginService.copy, if_match=IfMatch.NONE, status_code=201, out=Summary
                ),
            ],
        )
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        yield http
    await db.close()


async def make(client: httpx.AsyncClient, name: str, weight: float) -> dict[str, Any]:
    body = {
        "name": name,
        "kind": "source",
        "weight": weight,
        "configuration": {"url": "u", "token": SECRET},
        "secret_keys": ["token"],
    }
    response = await client.post("/plugins", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_lists_and_gets_return_only_the_fields_asked_for(
    client: httpx.AsyncClient,
) -> None:
    made = await make(client, "csv", 1)
    await make(client, "pg", 20)
    assert made["configuration"] == {"url": "u", "token": "****"}
    assert "secrets" not in made
    page = (await client.get("/plugins?fields=name,weight&sort=name&limit=1")).json()
    assert page["items"] == [{"name": "csv", "weight": 1.0}]
    assert page["next_cursor"]
    one = await client.get(f"/plugins/{made['id']}", params={"fields": "configuration"})
    assert one.json() == {"configuration": {"url": "u", "token": "****"}}
    assert one.headers["ETag"] == '"1"'
    for bad in ["secrets", "", "name,nope", "name,,kind", "x" * 5000]:
        for url in ["/plugins", f"/plugins/{made['id']}"]:
            response = await client.get(url, params={"fields": bad})
            assert response.status_code == 400, (url, bad, response.text)
            assert response.json()["errors"][0]["field"] == "fields"
    assert SECRET not in (await client.get("/plugins")).text


async def test_the_openapi_document_describes_fields_and_query_filters(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    listed = {p["name"]: p for p in paths["/plugins"]["get"]["parameters"]}
    assert "secrets" not in listed["fields"]["schema"]["pattern"]
    assert "configuration" in listed["fields"]["schema"]["pattern"]
    assert "heavy" in listed
    got = {p["name"] for p in paths["/plugins/{id}"]["get"]["parameters"]}
    assert "fields" in got
    label = {p["name"]: p for p in paths["/plugins/{id}/labels/{label}"]["post"]["parameters"]}
    assert label["label"]["schema"]["type"] == "string"


async def test_query_filters_and_typed_action_path_parameters(
    client: httpx.AsyncClient,
) -> None:
    light = await make(client, "csv", 1)
    await make(client, "pg", 20)
    answer = await client.get("/plugins?heavy=yes&fields=name")
    assert answer.status_code == 200, answer.text
    heavy_ones = answer.json()["items"]
    assert heavy_ones == [{"name": "pg"}]
    labelled = await client.post(f"/plugins/{light['id']}/labels/Blue")
    assert labelled.json()["labels"] == ["blue"]
    copied = await client.post(f"/plugins/{light['id']}/copy")
    assert copied.status_code == 201
    assert copied.json()["name"] == "csv-copy"
    assert "Location" not in copied.headers  # not the plugin the item route would name
    assert "ETag" not in copied.headers
