"""G17, key rotation: ``lamina keys rotate`` moves every value to the active key while the
service keeps writing, loses and overwrites nothing, survives SIGKILL, and leaves versions,
audit trail and blind indexes as they were, so the old key can be removed."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import pytest
from sqlalchemy import String, func, select, text, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lamina.domain import (
    ENCRYPTED,
    AlreadyExists,
    Entity,
    Timestamped,
    Unavailable,
    VersionConflict,
    Versioned,
)
from lamina.persistence import (
    Database,
    Keyring,
    Repository,
    StandardColumns,
    blind_index_column,
    encrypted_column,
    encrypted_columns,
    key_usage,
    new_key,
    new_metadata,
    reindex_blind_indexes,
    rotate_keys,
    where,
)
from lamina.persistence.tables import audit_log

KEY_A, KEY_B, INDEX_KEY = new_key(), new_key(), new_key()
ROWS = 10_000
HERE = Path(__file__).parent
LAMINA = str(Path(sys.executable).parent / "lamina")


class Member(Timestamped, Versioned, Entity):
    name: str
    email: Annotated[str, ENCRYPTED]
    notes: Annotated[str | None, ENCRYPTED] = None


class Rows(DeclarativeBase):
    metadata = new_metadata()


class MemberRow(StandardColumns, Rows):
    __tablename__ = "g17_rotation_members"
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = encrypted_column()
    email_bidx: Mapped[str | None] = blind_index_column(unique=True)
    notes: Mapped[str | None] = encrypted_column(nullable=True)


class Members(Repository[Member, MemberRow]):
    filterable = ("email",)


def keyring(spec: str) -> Keyring:
    return Keyring.parse(spec, index_key=INDEX_KEY)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """The database, its members written under key ``a``."""
    database = Database(db_url, keyring=keyring(f"a={KEY_A}"))
    await database.drop_all(Rows.metadata)
    await database.create_all(Rows.metadata)
    yield database
    await database.drop_all(Rows.metadata)
    await database.close()


async def add_members(db: Database, count: int) -> dict[UUID, tuple[int, str, str | None]]:
    """``count`` members under the active key; their (version, email, notes) by id."""
    added = await Members(db).add_many(
        [
            Member(name=f"m{i}", email=f"m{i}@x.org", notes=None if i % 5 == 0 else f"n {i}")
            for i in range(count)
        ]
    )
    return {m.id: (m.version, m.email, m.notes) for m in added}


def cli(db_url: str, *args: str) -> subprocess.Popen[str]:
    """``lamina keys ARGS`` as a real process, with key ``b`` active and ``a`` still readable."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "LAMINA_KEYS": f"b={KEY_B},a={KEY_A}",
        "LAMINA_INDEX_KEY": INDEX_KEY,
    }
    command = [LAMINA, "keys", *args, "--url", db_url, "--metadata", f"{__name__}:Rows"]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


async def usage_by_key(db: Database) -> dict[str, int]:
    totals: dict[str, int] = {}
    for u in await key_usage(db, encrypted_columns(Rows.metadata)):
        totals[u.key_id] = totals.get(u.key_id, 0) + u.values
    return totals


async def check_every_value(url: str, expected: dict[UUID, tuple[int, str, str | None]]) -> None:
    """Every member reads back as expected with key ``b`` alone: ``a`` is no longer needed."""
    async with Database(url, keyring=keyring(f"b={KEY_B}")) as only_b:
        members = Members(only_b)
        found: dict[UUID, tuple[int, str, str | None]] = {}
        page = await members.keyset_page(order_by=["id"], limit=2000)
        while True:
            found.update({m.id: (m.version, m.email, m.notes) for m in page.items})
            if page.next_cursor is None:
                break
            page = await members.keyset_page(order_by=["id"], limit=2000, cursor=page.next_cursor)
        assert found == expected
        some = random.choice(list(expected.values()))
        [hit] = await members.list(where("email") == some[1])  # blind index unchanged
        assert hit.email == some[1]


async def write_until(
    db: Database,
    ids: list[UUID],
    last: dict[UUID, tuple[int, str, str | None]],
    done: asyncio.Event,
    writer: int,
) -> int:
    """Update random members (an encrypted field or a plain one) until ``done``; record what
    each successful update stored. Returns how many succeeded."""
    members = Members(db)
    rng = random.Random(writer)
    written = 0
    while not done.is_set():
        id = rng.choice(ids)
        try:
            current = await members.get(id)
            change: dict[str, Any] = (
                {"email": f"w{writer}-{written}@x.org", "notes": f"by {writer}"}
                if written % 2 == 0
                else {"name": f"renamed by {writer}"}
            )
            stored = await members.update(id, change, expected_version=current.version)
        except (VersionConflict, Unavailable):
            continue
        if stored.version > last[id][0]:
            last[id] = (stored.version, stored.email, stored.notes)
        written += 1
    return written


async def test_g17_rotation_under_concurrent_writers_loses_nothing(
    db: Database, db_url: str
) -> None:
    expected = await add_members(db, ROWS)
    ids = list(expected)
    done = asyncio.Event()
    async with Database(db_url, keyring=keyring(f"b={KEY_B},a={KEY_A}")) as service:
        writers = [
            asyncio.create_task(write_until(service, ids, expected, done, n)) for n in range(4)
        ]
        rotation = cli(db_url, "rotate", "--batch-size", "500", "--pause", "0.02")
        try:
            out, err = await asyncio.to_thread(rotation.communicate, timeout=120)
        finally:
            done.set()
            written = await asyncio.gather(*writers)
    assert rotation.returncode == 0, err
    assert all(n > 0 for n in written), written
    assert "rotated" in out
    assert "key a: 0 values (protects nothing: can be removed)" in out
    assert "100%" in err  # the progress bar
    assert KEY_A not in out + err
    assert KEY_B not in out + err

    status = cli(db_url, "status")
    shown, _ = status.communicate(timeout=60)
    assert "key a: 0 values (protects nothing: can be removed)" in shown.splitlines()
    assert await usage_by_key(db) == {"b": sum(2 if v[2] else 1 for v in expected.values())}
    await check_every_value(db_url, expected)


async def test_g17_rotation_killed_halfway_completes_when_run_again(
    db: Database, db_url: str
) -> None:
    expected = await add_members(db, ROWS)
    values = sum(2 if v[2] else 1 for v in expected.values())

    killed = cli(db_url, "rotate", "--batch-size", "250", "--pause", "0.05")
    assert killed.stderr is not None
    try:
        while " 30%" not in (line := await asyncio.to_thread(killed.stderr.readline)):
            assert line, "the rotation ended before it was killed"
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
    assert killed.returncode == -signal.SIGKILL
    halfway = await usage_by_key(db)
    assert halfway["a"] > 0
    assert halfway["b"] > 0
    assert sum(halfway.values()) == values

    again = cli(db_url, "rotate", "--no-progress")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert f"rotated {halfway['a']} values to key b" in out
    assert err == ""
    assert await usage_by_key(db) == {"b": values}
    await check_every_value(db_url, expected)


async def test_g17_rotation_is_not_a_change_of_the_entity(db: Database, db_url: str) -> None:
    members = Members(db)
    ada = await members.add(Member(name="Ada", email="ada@x.org", notes="n"))
    await members.add(Member(name="Bob", email="bob@x.org"))
    async with db.engine.connect() as conn:
        audited = await conn.scalar(select(func.count()).select_from(audit_log))
    async with Database(db_url, keyring=keyring(f"b={KEY_B},a={KEY_A}")) as rotating:
        report = await rotate_keys(rotating, encrypted_columns(Rows.metadata), batch_size=1)
        again = await rotate_keys(rotating, encrypted_columns(Rows.metadata))
        after = await Members(rotating).get(ada.id)

    assert report.active_key == "b"
    assert report.to_do == 3
    assert report.total_rotated == 3
    assert not report.failures
    assert report.rotated == {
        ("g17_rotation_members", "email"): 2,
        ("g17_rotation_members", "notes"): 1,
    }
    assert again.to_do == 0
    assert again.total_rotated == 0
    # Same version (If-Match stays valid), same updated_at, no audit entry.
    assert (after.version, after.updated_at, after.email, after.notes) == (
        ada.version,
        ada.updated_at,
        "ada@x.org",
        "n",
    )
    async with db.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(audit_log)) == audited
        stored = (await conn.execute(text("SELECT email FROM g17_rotation_members"))).scalars()
        assert all(value.startswith("v1:b:") for value in stored)


async def test_g17_rotation_reports_values_it_cannot_open_and_rotates_the_rest(
    db: Database, db_url: str
) -> None:
    members = Members(db)
    ada = await members.add(Member(name="Ada", email="ada@x.org"))
    bob = await members.add(Member(name="Bob", email="bob@x.org"))
    async with Database(db_url, keyring=keyring(f"c={new_key()}")) as other:
        cid = (await Members(other).add(Member(name="Cy", email="cy@x.org"))).id
    async with db.engine.begin() as conn:  # Bob's email moved onto Ada's row: tampered
        row = MemberRow.__table__.c
        bobs = await conn.scalar(select(row.email).where(row.id == bob.id))
        await conn.execute(update(MemberRow).where(row.id == ada.id).values(email=bobs))

    async with Database(db_url, keyring=keyring(f"b={KEY_B},a={KEY_A}")) as rotating:
        report = await rotate_keys(rotating, encrypted_columns(Rows.metadata))

    assert report.total_rotated == 1
    failed = {(f.row_id, f.key_id) for f in report.failures}
    assert failed == {(str(ada.id), "a"), (str(cid), "c")}
    assert await usage_by_key(db) == {"a": 1, "b": 1, "c": 1}


async def test_g17_reindex_moves_blind_indexes_to_a_new_index_key(
    db: Database, db_url: str
) -> None:
    members = Members(db)
    await members.add_many([Member(name=f"m{i}", email=f"m{i}@x.org") for i in range(30)])
    new_index = new_key()
    moved = Keyring.parse(f"a={KEY_A}", index_key=new_index)
    async with Database(db_url, keyring=moved) as reindexing:
        assert await Members(reindexing).list(where("email") == "m7@x.org") == []  # old digests
        env = {**os.environ, "LAMINA_KEYS": f"a={KEY_A}", "LAMINA_INDEX_KEY": new_index}
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
        command = [LAMINA, "keys", "reindex", "--url", db_url, "--metadata", f"{__name__}:Rows"]
        done = await asyncio.to_thread(
            subprocess.run, command, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert "g17_rotation_members.email  reindexed 30" in done.stdout.splitlines()
        assert "recomputed 30 digests" in done.stdout

        [found] = await Members(reindexing).list(where("email") == "m7@x.org")
        assert found.name == "m7"
        with pytest.raises(AlreadyExists):  # the unique rule holds under the new key
            await Members(reindexing).add(Member(name="again", email="m7@x.org"))
        again = await reindex_blind_indexes(reindexing, encrypted_columns(Rows.metadata))
        assert again.total_rotated == 0
        assert again.to_do == 30
