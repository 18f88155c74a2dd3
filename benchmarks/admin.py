"""The harness's own connection: creates and seeds the table, cleans up between rounds.

Everything here is untimed. At the end it drops ``bench_items`` and those of
lamina's own tables (``lamina_metadata``) that the run created, so a shared
database (CI's ``test``) is left as found.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from benchmarks.layers.sqlalchemy_layers import create_engine
from benchmarks.workload import NEW_STATUS, TABLE, bench_items, metadata

AUDIT_TABLE = "lamina_audit_log"
ENTITY_TYPES = ("BenchItem", TABLE)
"""Audit entries the lamina layer may write, whichever name lamina files them under."""


def _table_names(conn: Any) -> set[str]:
    return set(inspect(conn).get_table_names())


def _lamina_tables() -> list[Table]:
    """lamina's own tables (created by the lamina layer), or none if lamina does not import."""
    try:
        from lamina.persistence.tables import lamina_metadata
    except Exception:  # without lamina the run created none of its tables
        return []
    return list(lamina_metadata.sorted_tables)


class Admin:
    """Schema, seed and cleanup of one database."""

    def __init__(self, url: str) -> None:
        self.engine: AsyncEngine = create_engine(url)
        self.dialect = self.engine.dialect.name
        self._preexisting: set[str] = set()

    async def server_version(self) -> str:
        """The database's version string."""
        query = "SELECT sqlite_version()" if self.dialect == "sqlite" else "SHOW server_version"
        async with self.engine.connect() as conn:
            return str((await conn.execute(text(query))).scalar_one())

    async def reset(self, rows: list[dict[str, object]]) -> None:
        """Drop and recreate ``bench_items``, insert ``rows`` and refresh planner statistics."""
        async with self.engine.begin() as conn:
            self._preexisting = await conn.run_sync(_table_names)
            await conn.run_sync(metadata.drop_all)
            await conn.run_sync(metadata.create_all)
            await conn.execute(insert(bench_items), rows)
        await self.analyze()

    async def analyze(self) -> None:
        """Planner statistics (and, on PostgreSQL, a vacuum after the deletes of cleanup)."""
        if self.dialect == "sqlite":
            async with self.engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
            return
        async with self.engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text(f"VACUUM ANALYZE {TABLE}"))

    async def delete_written(self) -> None:
        """Remove rows the write benchmarks inserted and the harness's audit entries."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(bench_items).where(bench_items.c.status == NEW_STATUS))
            await self._delete_audit(conn)

    async def _delete_audit(self, conn: AsyncConnection) -> None:
        if AUDIT_TABLE not in await conn.run_sync(_table_names):
            return
        statement = text(f"DELETE FROM {AUDIT_TABLE} WHERE entity_type IN :types").bindparams(
            bindparam("types", expanding=True)
        )
        await conn.execute(statement, {"types": list(ENTITY_TYPES)})

    async def versions(self, ids: list[Any]) -> dict[Any, int]:
        """Current versions of ``ids`` (to recover after a failed update round)."""
        query = bench_items.select().with_only_columns(bench_items.c.id, bench_items.c.version)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.where(bench_items.c.id.in_(ids)))).all()
        return {row.id: row.version for row in rows}

    async def teardown(self) -> None:
        """Drop ``bench_items`` and the lamina tables this run created; close the engine."""
        async with self.engine.begin() as conn:
            await self._delete_audit(conn)
            await conn.run_sync(metadata.drop_all)
            existing = await conn.run_sync(_table_names)
            created = [
                table
                for table in _lamina_tables()
                if table.name in existing and table.name not in self._preexisting
            ]
            if created:
                await conn.run_sync(lambda sync: created[0].metadata.drop_all(sync, created))
        await self.engine.dispose()
