"""The persistence layer: the only place SQL lives.

:class:`Database` owns the connections; rows are SQLAlchemy declarative classes
on :class:`Base` with the standard-column mixins (or SQLModel tables on
:func:`new_registry` with :class:`StandardFields`); :class:`Repository` maps rows
to entities and does every read and write; :class:`UnitOfWork` makes a use case
one transaction, audit entries and events included. :func:`upgrade` and
:func:`downgrade` apply lamina's and the application's migrations
(:mod:`lamina.persistence.migrations`; the ``lamina db`` command does the same).
"""

from lamina.persistence.audit import AuditAction, AuditEntry
from lamina.persistence.audit_pages import history_page
from lamina.persistence.base import (
    NAMING_CONVENTION,
    ActorColumns,
    Base,
    IndexColumn,
    SoftDeleteColumn,
    StandardColumns,
    TimestampColumns,
    UUIDPrimaryKey,
    VersionColumn,
    live_index,
    live_unique,
    new_metadata,
    one_of,
)
from lamina.persistence.blind_index import blind_index_column
from lamina.persistence.database import Database, RetryPolicy, normalize_url
from lamina.persistence.encryption import encrypted_column, key_id_of, reencrypt
from lamina.persistence.entity_columns import EntityColumns, row_for
from lamina.persistence.entity_repositories import repository_for
from lamina.persistence.errors import ConnectionLost, TransactionAborted
from lamina.persistence.filters import Filter, Op, Subquery, any_of, where
from lamina.persistence.graphs import path_between, reachable
from lamina.persistence.instrumentation import DatabaseStats, count_queries
from lamina.persistence.json_values import JSONValue
from lamina.persistence.key_rotation import (
    RotationFailure,
    RotationReport,
    reindex_blind_indexes,
    rotate_keys,
)
from lamina.persistence.key_usage import KeyUsage, encrypted_columns, key_usage
from lamina.persistence.keyring import Keyring, KeyringError, new_key
from lamina.persistence.mapping import MappingError
from lamina.persistence.migrations import MigrationConfig, MigrationError, downgrade, upgrade
from lamina.persistence.pages import CursorPage, OffsetPage
from lamina.persistence.pool import PoolOptions
from lamina.persistence.read_repository import ReadOnlyRepository
from lamina.persistence.repository import Repository
from lamina.persistence.sqlmodel_rows import (
    EntityFields,
    SoftDeleteField,
    StandardFields,
    encrypted_field,
    enum_field,
    json_field,
    new_registry,
)
from lamina.persistence.tables import lamina_metadata
from lamina.persistence.types import UTCDateTime
from lamina.persistence.unit_of_work import UnitOfWork

__all__ = [
    "NAMING_CONVENTION",
    "ActorColumns",
    "AuditAction",
    "AuditEntry",
    "Base",
    "ConnectionLost",
    "CursorPage",
    "Database",
    "DatabaseStats",
    "EntityColumns",
    "EntityFields",
    "Filter",
    "IndexColumn",
    "JSONValue",
    "KeyUsage",
    "Keyring",
    "KeyringError",
    "MappingError",
    "MigrationConfig",
    "MigrationError",
    "OffsetPage",
    "Op",
    "PoolOptions",
    "ReadOnlyRepository",
    "Repository",
    "RetryPolicy",
    "RotationFailure",
    "RotationReport",
    "SoftDeleteColumn",
    "SoftDeleteField",
    "StandardColumns",
    "StandardFields",
    "Subquery",
    "TimestampColumns",
    "TransactionAborted",
    "UTCDateTime",
    "UUIDPrimaryKey",
    "UnitOfWork",
    "VersionColumn",
    "any_of",
    "blind_index_column",
    "count_queries",
    "downgrade",
    "encrypted_column",
    "encrypted_columns",
    "encrypted_field",
    "enum_field",
    "history_page",
    "json_field",
    "key_id_of",
    "key_usage",
    "lamina_metadata",
    "live_index",
    "live_unique",
    "new_key",
    "new_metadata",
    "new_registry",
    "normalize_url",
    "one_of",
    "path_between",
    "reachable",
    "reencrypt",
    "reindex_blind_indexes",
    "repository_for",
    "rotate_keys",
    "row_for",
    "upgrade",
    "where",
]
