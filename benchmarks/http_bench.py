"""HTTP throughput: lamina's resource router against a hand-written FastAPI + SQLAlchemy endpoint.

Usage (from the project root)::

    .venv/bin/python -m benchmarks.http_bench [--seconds 3] [--rounds 2] [--connections 16]
        [--database-url URL]

Both apps serve the same contract on the same table: ``GET /items/{id}`` (one
item of the caller, with its ETag), ``GET /items?limit=50`` (the caller's newest
items, keyset-paginated, ``{items, next_cursor}``) and ``POST /items`` (validate,
insert, 201 with the item). The caller is named by an ``X-User`` header in both,
and both only show the caller's rows. lamina's app is ``resource_router`` over
a ``Service`` scoped with ``OwnedBy``; it also writes an audit entry for every
create, which the hand-written app does not. The hand-written app is idiomatic
FastAPI: ``AsyncSession`` per request, ORM rows, ``response_model``.

Each app runs in its own uvicorn process (one worker, same settings); the load
generator is this process, on loopback: ``--connections`` keep-alive HTTP/1.1
connections sending requests back to back for ``--seconds`` per operation,
after a short warm-up. Apps alternate, ``--rounds`` times; the best run of each
counts. The database is a temporary SQLite file unless ``--database-url`` (or
``LAMINA_BENCH_HTTP_DATABASE_URL``) names another, e.g. PostgreSQL; its table
``bench_http_items`` is dropped and recreated (lamina's own tables are created if missing).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, Header, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Integer, String, Uuid, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lamina.api import (
    Route,
    provide_service,
    register_problem_handlers,
    resource_router,
    update_request_context,
)
from lamina.domain import (
    READ_ONLY,
    ActorTracked,
    Entity,
    NotFound,
    SoftDeletable,
    Timestamped,
    Unauthenticated,
    Versioned,
    utcnow,
    uuid7,
)
from lamina.persistence import (
    Database,
    Repository,
    SoftDeleteColumn,
    StandardColumns,
    new_metadata,
)
from lamina.service import OwnedBy, Service

DATABASE_URL_VAR = "LAMINA_BENCH_HTTP_DATABASE_URL"
SECRET = "http-bench-secret"
SEEDED_ITEMS = 2000
PAGE_SIZE = 50
BENCH_USER = UUID("01890a5d-ac96-774b-bcce-b302099a8057")
ROUTES = ("get one", "list page", "create")

# ---------------------------------------------------------------------- the shared table


class BenchRows(DeclarativeBase):
    metadata = new_metadata()


class ItemRow(StandardColumns, SoftDeleteColumn, BenchRows):
    __tablename__ = "bench_http_items"
    owner_id: Mapped[UUID] = mapped_column(Uuid(), index=True)
    name: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(200))


# ---------------------------------------------------------------------- lamina's app


class Item(Timestamped, SoftDeletable, Versioned, ActorTracked, Entity):
    owner_id: Annotated[UUID, READ_ONLY]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    quantity: Annotated[int, Field(ge=0)] = 0
    note: Annotated[str | None, Field(max_length=200)] = None


class Items(Repository[Item, ItemRow]):
    filterable = ("name", "quantity")
    sortable = ("created_at", "name")
    default_order = ("-created_at",)


@dataclass(frozen=True)
class User:
    id: UUID


class ItemService(Service[Item, User]):
    repository = Items
    scope = OwnedBy("owner_id")

    def new_entity(self, values: Any) -> Item:
        return super().new_entity({**values, "owner_id": self.principal.id})


async def lamina_user(x_user: Annotated[str | None, Header()] = None) -> User:
    try:
        user = User(UUID(x_user or ""))
    except ValueError:
        raise Unauthenticated("send X-User") from None
    update_request_context(actor_id=user.id)
    return user


def lamina_app() -> FastAPI:
    """The app built with lamina (uvicorn factory)."""
    db = Database(os.environ[DATABASE_URL_VAR], secret_key=SECRET)
    app = FastAPI()
    register_problem_handlers(app)
    items = provide_service(ItemService, db, lamina_user)
    routes = (Route.LIST, Route.GET, Route.CREATE)
    app.include_router(resource_router(ItemService, provide=items, path="/items", routes=routes))
    return app


# ---------------------------------------------------------------------- the hand-written app


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    quantity: int = Field(default=0, ge=0)
    note: str | None = Field(default=None, max_length=200)


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    owner_id: UUID
    name: str
    quantity: int
    note: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    created_by_id: UUID | None
    updated_by_id: UUID | None


class ItemPage(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None


async def hand_user(x_user: Annotated[str | None, Header()] = None) -> User:
    try:
        return User(UUID(x_user or ""))
    except ValueError:
        raise Unauthenticated("send X-User") from None


def hand_app() -> FastAPI:
    """The hand-written FastAPI + SQLAlchemy app (uvicorn factory)."""
    engine = create_async_engine(
        os.environ[DATABASE_URL_VAR], pool_size=10, max_overflow=0, pool_pre_ping=False
    )
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    app = FastAPI()
    register_problem_handlers(app)

    async def session() -> AsyncIterator[AsyncSession]:
        async with sessions() as s:
            yield s

    @app.get("/items/{id}", response_model=ItemOut)
    async def get_item(
        id: UUID,
        response: Response,
        user: User = Depends(hand_user),
        s: AsyncSession = Depends(session),
    ) -> ItemRow:
        row = await s.scalar(
            select(ItemRow).where(
                ItemRow.id == id, ItemRow.owner_id == user.id, ItemRow.deleted_at.is_(None)
            )
        )
        if row is None:
            raise NotFound("Item", id)
        response.headers["ETag"] = f'"{row.version}"'
        return row

    @app.get("/items", response_model=ItemPage)
    async def list_items(
        limit: int = 50,
        cursor: str | None = None,
        user: User = Depends(hand_user),
        s: AsyncSession = Depends(session),
    ) -> dict[str, Any]:
        query = select(ItemRow).where(ItemRow.owner_id == user.id, ItemRow.deleted_at.is_(None))
        if cursor:
            created, last_id = json.loads(base64.urlsafe_b64decode(cursor))
            after = (datetime.fromisoformat(created), UUID(last_id))
            query = query.where(tuple_(ItemRow.created_at, ItemRow.id) < after)
        query = query.order_by(ItemRow.created_at.desc(), ItemRow.id.desc()).limit(limit + 1)
        rows = list(await s.scalars(query))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = [rows[-1].created_at.isoformat(), str(rows[-1].id)]
            next_cursor = base64.urlsafe_b64encode(json.dumps(last).encode()).decode()
        return {"items": rows, "next_cursor": next_cursor}

    @app.post("/items", response_model=ItemOut, status_code=201)
    async def create_item(
        body: ItemCreate,
        response: Response,
        user: User = Depends(hand_user),
        s: AsyncSession = Depends(session),
    ) -> ItemRow:
        now = utcnow()
        row = ItemRow(
            id=uuid7(),
            owner_id=user.id,
            created_at=now,
            updated_at=now,
            created_by_id=user.id,
            updated_by_id=user.id,
            version=1,
            **body.model_dump(),
        )
        s.add(row)
        await s.commit()
        response.headers["ETag"] = '"1"'
        return row

    return app


# ---------------------------------------------------------------------- load generation


@dataclass
class Load:
    """What one operation sends: request bytes for the n-th request and the status expected."""

    name: str
    expected: int
    ids: list[str]

    def request(self, n: int, port: int) -> bytes:
        host = f"Host: 127.0.0.1:{port}\r\nX-User: {BENCH_USER}\r\n"
        if self.name == "get one":
            target = f"/items/{self.ids[n % len(self.ids)]}"
            return f"GET {target} HTTP/1.1\r\n{host}\r\n".encode()
        if self.name == "list page":
            return f"GET /items?limit={PAGE_SIZE} HTTP/1.1\r\n{host}\r\n".encode()
        body = json.dumps({"name": f"item {n}", "quantity": n % 100, "note": "bench"}).encode()
        head = f"POST /items HTTP/1.1\r\n{host}Content-Type: application/json\r\n"
        return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> int:
    writer.write(data)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def drive(load: Load, port: int, connections: int, seconds: float) -> float:
    """Requests per second over ``seconds`` after a warm-up (non-expected statuses fail)."""
    counter = 0
    completed = 0
    measuring = False
    stop = False

    async def worker() -> None:
        nonlocal counter, completed
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not stop:
                counter += 1
                status = await _exchange(reader, writer, load.request(counter, port))
                if status != load.expected:
                    raise RuntimeError(f"{load.name}: HTTP {status}, expected {load.expected}")
                if measuring:
                    completed += 1
        finally:
            writer.close()

    tasks = [asyncio.create_task(worker()) for _ in range(connections)]
    await asyncio.sleep(min(1.0, seconds / 3))
    measuring = True
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    measuring = False
    elapsed = time.perf_counter() - started
    stop = True
    await asyncio.gather(*tasks)
    return completed / elapsed


# ---------------------------------------------------------------------- servers and report


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """One app in a uvicorn subprocess (one worker, no access log)."""

    def __init__(self, factory: str, url: str) -> None:
        self.port = _free_port()
        env = {**os.environ, DATABASE_URL_VAR: url}
        root = Path(__file__).resolve().parent.parent
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            f"benchmarks.http_bench:{factory}",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        self.process = subprocess.Popen(command, cwd=root, env=env)

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the server exited while starting")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            return
        raise RuntimeError("the server did not start in time")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def seed(url: str) -> list[str]:
    """Fresh tables with ``SEEDED_ITEMS`` items of the bench user; their ids."""
    db = Database(url, secret_key=SECRET)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(BenchRows.metadata.drop_all)
        await db.create_all(BenchRows.metadata)
        items = [
            Item(owner_id=BENCH_USER, name=f"seed {i}", quantity=i % 50)
            for i in range(SEEDED_ITEMS)
        ]
        stored = await Items(db).add_many(items)
        other = [Item(owner_id=uuid7(), name=f"other {i}") for i in range(SEEDED_ITEMS // 4)]
        await Items(db).add_many(other)
    finally:
        await db.close()
    return [str(item.id) for item in stored[:: max(1, SEEDED_ITEMS // 500)]]


async def same_contract(ports: dict[str, int], item_id: str) -> None:
    """Both apps answer GET one with the same fields and ETag."""
    answers = {}
    for name, port in ports.items():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = f"GET /items/{item_id} HTTP/1.1\r\nHost: x\r\nX-User: {BENCH_USER}\r\n\r\n"
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        body = json.loads(await reader.readexactly(length))
        writer.close()
        answers[name] = (head[9:12], sorted(body), b'etag: "1"' in head.lower())
    first, second = answers.values()
    if first != second:
        raise RuntimeError(f"the two apps answer differently: {answers}")


async def run(
    url: str, seconds: float, rounds: int, connections: int
) -> dict[str, dict[str, float]]:
    ids = await seed(url)
    servers = {"lamina": Server("lamina_app", url), "hand-written": Server("hand_app", url)}
    best: dict[str, dict[str, float]] = {name: {} for name in servers}
    try:
        for server in servers.values():
            await server.wait_ready()
        await same_contract({n: s.port for n, s in servers.items()}, ids[0])
        for _ in range(rounds):
            for op in ROUTES:
                load = Load(op, 201 if op == "create" else 200, ids)
                for name, server in servers.items():
                    rate = await drive(load, server.port, connections, seconds)
                    best[name][op] = max(best[name].get(op, 0.0), rate)
                    print(f"  {op:<10} {name:<13} {rate:8.0f} req/s", file=sys.stderr)
    finally:
        for server in servers.values():
            server.stop()
    return best


def report(best: dict[str, dict[str, float]], dialect: str, args: argparse.Namespace) -> str:
    lines = [
        f"HTTP throughput on {dialect}: 1 uvicorn worker per app, {args.connections} keep-alive "
        f"connections, {args.seconds:g} s per run, best of {args.rounds}",
        "",
        "| operation | lamina req/s | hand-written req/s | lamina / hand-written |",
        "|---|---:|---:|---:|",
    ]
    for op in ROUTES:
        lamina, hand = best["lamina"][op], best["hand-written"][op]
        lines.append(f"| {op} | {lamina:,.0f} | {hand:,.0f} | {lamina / hand:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database-url", default=os.environ.get(DATABASE_URL_VAR))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/http_bench.db"
        dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
        best = asyncio.run(run(url, args.seconds, args.rounds, args.connections))
    print(report(best, dialect, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
