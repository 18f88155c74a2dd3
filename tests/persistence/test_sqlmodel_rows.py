"""SQLModel tables as rows: their own metadata with lamina's naming convention, the standard
fields, encrypted secrets of a configuration, enums, JSON and floats, on both databases; and
walking a self-referential link table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel
from sqlmodel_models import Link, Links, Plugin, PluginRow, Plugins, Tables

from lamina.domain import SECRET_PLACEHOLDER, NotFound, VersionConflict, use_context, uuid7
from lamina.persistence import Database, Keyring, new_key, path_between, reachable

KEYRING = Keyring.parse(f"k1={new_key()}")
SECRET = "s3cret-token-value"
NEW_SECRET = "fresh-token-value"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url, secret_key="sqlmodel-tests", keyring=KEYRING)
    await database.drop_all(Tables.metadata)
    await database.create_all(Tables.metadata)
    yield database
    await database.close()


def test_sqlmodel_tables_get_their_own_metadata_and_lamina_constraint_names() -> None:
    assert "sm_plugins" not in SQLModel.metadata.tables
    table = PluginRow.__table__  # type: ignore[attr-defined]
    names = {c.name for c in table.constraints} | {i.name for i in table.indexes}
    assert {"pk_sm_plugins", "ck_sm_plugins_kind_allowed", "uq_sm_plugins_live_name"} <= names
    standard = {"id", "created_at", "updated_at", "created_by_id", "updated_by_id", "version"}
    assert standard | {"deleted_at"} <= set(table.c.keys())


async def test_a_sqlmodel_row_with_standard_fields_reads_and_writes(db: Database) -> None:
    plugins = Plugins(db)
    actor = uuid7()
    with use_context(actor_id=actor):
        made = await plugins.add(Plugin(name="csv", kind="source", weight=0.25, labels=["a"]))
    got = await plugins.get(made.id)
    assert got == made
    assert (got.weight, got.labels, got.created_by_id) == (0.25, ["a"], actor)
    assert got.created_at.tzinfo is not None
    changed = await plugins.update(made.id, {"weight": 2.5}, expected_version=1)
    assert (changed.weight, changed.version) == (2.5, 2)
    with pytest.raises(VersionConflict):
        await plugins.update(made.id, {"weight": 3.0}, expected_version=1)
    assert [p.name for p in await plugins.list(order_by=["-weight"])] == ["csv"]
    await plugins.delete(made.id)
    with pytest.raises(NotFound):
        await plugins.get(made.id)  # G1
    restored = await plugins.restore(made.id)
    assert restored.deleted_at is None


async def test_g17_secret_keys_of_a_configuration_are_encrypted_and_masked(db: Database) -> None:
    plugins = Plugins(db)
    config = {"host": "db.local", "token": SECRET}
    made = await plugins.add(
        Plugin(name="pg", kind="sink", configuration=config, secret_keys=["token"])
    )
    assert made.configuration == {"host": "db.local", "token": SECRET_PLACEHOLDER}
    assert made.revealed_configuration() == config
    # Sending back what was shown keeps the secret; a new value replaces it.
    kept = await plugins.update(made.id, {"configuration": {**made.configuration, "host": "h"}})
    assert kept.revealed_configuration() == {"host": "h", "token": SECRET}
    replaced = await plugins.update(made.id, {"configuration": {"host": "h", "token": NEW_SECRET}})
    assert (await plugins.get(made.id)).revealed_configuration()["token"] == NEW_SECRET
    # Unlisted, a secret is dropped, never shown.
    unlisted = await plugins.update(made.id, {"secret_keys": []})
    assert unlisted.configuration == {"host": "h", "token": SECRET_PLACEHOLDER}
    assert unlisted.secrets == {}
    async with db.engine.connect() as conn:
        stored = str((await conn.execute(text("SELECT * FROM sm_plugins"))).all())
        audit = str((await conn.execute(text("SELECT changes FROM lamina_audit_log"))).all())
    assert SECRET not in stored
    assert SECRET not in audit
    assert NEW_SECRET not in stored
    assert NEW_SECRET not in audit
    assert replaced.secrets == {"token": NEW_SECRET}


async def test_reachable_and_path_between_walk_a_link_table(db: Database) -> None:
    plugins, links = Plugins(db), Links(db)
    a, b, c, d = [await plugins.add(Plugin(name=n, kind="source")) for n in "abcd"]
    for source, target in [(a, b), (b, c), (a, c)]:
        await links.add(Link(source_id=source.id, target_id=target.id))
    found = await reachable(links, a.id, source="source_id", target="target_id")
    assert set(found) == {b.id, c.id}
    assert found[c.id] == a.id  # breadth first: the shortest way
    path = await path_between(links, a.id, c.id, source="source_id", target="target_id")
    assert path == [a.id, c.id]
    assert await path_between(links, c.id, a.id, source="source_id", target="target_id") is None
    assert await path_between(links, d.id, d.id, source="source_id", target="target_id") == [d.id]
    await links.add(Link(source_id=c.id, target_id=a.id))  # now a cycle
    cycle = await path_between(links, b.id, a.id, source="source_id", target="target_id")
    assert cycle == [b.id, c.id, a.id]
    assert isinstance(cycle[0], UUID)
