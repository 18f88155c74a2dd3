"""Test tables of their own: a database with a metadata's tables made empty, dropped after."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import MetaData

from lamina.persistence import Database


async def fresh_tables(db_url: str, metadata: MetaData) -> AsyncIterator[Database]:
    """For a fixture (``async for db in fresh_tables(db_url, Base.metadata): yield db``): a
    :class:`Database` on ``db_url`` with ``metadata``'s tables empty, dropped afterwards."""
    database = Database(db_url)
    await database.drop_all(metadata)
    await database.create_all(metadata)
    try:
        yield database
    finally:
        await database.drop_all(metadata)
        await database.close()
