"""A database outage over HTTP: 503 problem+json with Retry-After, then recovery (G11).

PostgreSQL is reached through a TCP proxy the test can cut and restore, which
is what a stopped and restarted server looks like to the application: open
connections die, new ones are refused, and later they work again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import String
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lamina.api import ApiSettings, install
from lamina.domain import Entity
from lamina.persistence import (
    Base,
    Database,
    PoolOptions,
    Repository,
    StandardColumns,
    new_metadata,
)


class OutageBase(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = Base.type_annotation_map


class NoteRow(OutageBase, StandardColumns):
    __tablename__ = "outage_notes"
    text: Mapped[str] = mapped_column(String(100))


class Note(Entity):
    text: str


class Notes(Repository[Note, NoteRow]):
    pass


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to a target until cut; restore() serves again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


@pytest.fixture
async def proxied_url(db_url: str) -> AsyncIterator[tuple[str, CuttableProxy]]:
    if not db_url.startswith("postgresql"):
        pytest.skip("an embedded SQLite database cannot be stopped; see the locked-file test")
    url = make_url(db_url)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    yield url.set(port=proxy.port).render_as_string(hide_password=False), proxy
    with contextlib.suppress(AssertionError):
        await proxy.cut()


@pytest.mark.postgres_only
async def test_g11_a_stopped_database_gives_503_and_the_service_recovers(
    proxied_url: tuple[str, CuttableProxy],
) -> None:
    url, proxy = proxied_url
    db = Database(url, pool=PoolOptions(size=2, acquire_timeout=2.0))
    await db.drop_all(OutageBase.metadata)
    await db.create_all(OutageBase.metadata)
    app = FastAPI()
    install(app, ApiSettings(access_log=False, readiness_checks={"database": db.ping}))

    @app.post("/notes", status_code=201)
    async def add_note() -> dict[str, str]:
        note = await Notes(db).add(Note(text="hello"))
        return {"id": str(note.id)}

    @app.get("/notes/count")
    async def count_notes() -> dict[str, int]:
        return {"count": await Notes(db).count()}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/notes")).status_code == 201
        assert (await client.get("/readyz")).status_code == 200

        await proxy.cut()
        for method, path in (("POST", "/notes"), ("GET", "/notes/count"), ("GET", "/readyz")):
            response = await client.request(method, path)
            assert response.status_code == 503, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert int(response.headers["retry-after"]) >= 1
            assert "127.0.0.1" not in response.text

        await proxy.start()
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.post("/notes")).status_code == 201
        assert (await client.get("/notes/count")).json() == {"count": 2}
    await db.drop_all(OutageBase.metadata)
    await db.close()
