"""lamina's audit log, for the raw layers that write its entries by hand (``… +audit``)."""

from __future__ import annotations

import json

from benchmarks.workload import NewItem
from sqlalchemy.ext.asyncio import create_async_engine

from lamina.persistence.tables import audit_log

ENTITY_TYPE = "BenchItem"
"""The entity type lamina's layer records (its entity's name)."""

ENTRY_COLUMNS = tuple(c.name for c in audit_log.columns)
"""The audit log's columns, in the order of an entry's values."""

INSERT_ENTRY_INTO = f"INSERT INTO {audit_log.name} ({', '.join(ENTRY_COLUMNS)})"
"""The head of an INSERT of whole audit entries (values in :data:`ENTRY_COLUMNS` order)."""


def creation_changes(item: NewItem) -> str:
    """The ``changes`` of ``item``'s creation entry, as JSON text."""
    return json.dumps(
        {"score": [None, item.score], "status": [None, item.status], "title": [None, item.title]}
    )


async def create_audit_log(url: str) -> None:
    """Create lamina's audit log at ``url`` unless it is there."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: audit_log.create(sync, checkfirst=True))
    finally:
        await engine.dispose()
