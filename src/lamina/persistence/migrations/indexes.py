"""lamina's index comparison for autogenerate and ``check``, as an Alembic plugin.

Alembic's own index comparison is turned off in lamina's migration contexts
(:data:`AUTOGENERATE_PLUGINS` plus the scope's ``include_object``); this plugin
compares every named index of a table by name and definition instead (see
:mod:`~lamina.persistence.migrations.index_definitions`), so descending columns,
expressions and partial indexes are written by autogenerate and ``check`` sees
them as equal on SQLite and PostgreSQL:

- an index only the models have is created;
- an index only the database has is dropped (and created again on downgrade);
- an index whose definition differs is dropped and created.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from alembic.autogenerate.api import AutogenContext
from alembic.operations.ops import CreateIndexOp, DropIndexOp, ModifyTableOps
from alembic.runtime.plugins import Plugin
from alembic.util import PriorityDispatchResult
from sqlalchemy import Table

from lamina.persistence.migrations.index_definitions import (
    comparable,
    index_from_definition,
    model_statements,
    stored_indexes,
)
from lamina.persistence.migrations.sqlite_rebuilds import remember_stored

PLUGIN_NAME = "lamina.indexes"

AUTOGENERATE_PLUGINS = ["alembic.autogenerate.*", "alembic.ext.checkconstraint_byname", PLUGIN_NAME]
"""The comparisons lamina's migration contexts run: Alembic's, and lamina's for indexes."""


def compare_indexes(
    autogen_context: AutogenContext,
    modify_ops: ModifyTableOps,
    schema: str | None,
    table_name: str,
    conn_table: Table | None,
    metadata_table: Table | None,
) -> PriorityDispatchResult:
    """Alembic "table" comparator: the index operations that make the database's indexes
    of ``table_name`` those of the models."""
    connection = autogen_context.connection
    if connection is None:
        return PriorityDispatchResult.CONTINUE
    stored = (
        {index.name: index for index in stored_indexes(connection, table_name, schema)}
        if conn_table is not None
        else {}
    )
    model = (
        {str(index.name): index for index in metadata_table.indexes if index.name}
        if metadata_table is not None
        else {}
    )
    wanted = (
        model_statements(connection, metadata_table)
        if metadata_table is not None and conn_table is not None
        else {}
    )
    previous = {
        name: index_from_definition(found, table_name, schema) for name, found in stored.items()
    }
    remember_stored(autogen_context.migration_context, (schema, table_name), [*previous.values()])
    changed = {
        name
        for name in model.keys() & stored.keys()
        if wanted.get(name) != comparable(connection, stored[name].statement)
    }
    for name in sorted((stored.keys() - model.keys()) | changed):
        modify_ops.ops.append(DropIndexOp.from_index(previous[name]))
    for name in sorted((model.keys() - stored.keys()) | changed):
        modify_ops.ops.append(CreateIndexOp.from_index(model[name]))
    return PriorityDispatchResult.CONTINUE


@contextmanager
def index_warnings_silenced() -> Iterator[None]:
    """Without the warnings Alembic and SQLAlchemy give about expression indexes they cannot
    reflect or compare: lamina compares those itself."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*expression-based index")
        yield


def _register() -> None:
    plugin = Plugin(PLUGIN_NAME)
    plugin.add_autogenerate_comparator(compare_indexes, "table", "lamina_indexes")


_register()
