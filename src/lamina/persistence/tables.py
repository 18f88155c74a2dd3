"""lamina's own tables: the audit log and the event store.

They live in their own ``MetaData`` (:data:`lamina_metadata`) and ship their own
migrations, apart from each application's revision history.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    Uuid,
)

from lamina.persistence.base import new_metadata
from lamina.persistence.types import UTCDateTime

lamina_metadata = new_metadata()
"""The ``MetaData`` holding lamina's own tables."""

Position = BigInteger().with_variant(Integer(), "sqlite")

audit_log = Table(
    "lamina_audit_log",
    lamina_metadata,
    Column("id", Uuid(), primary_key=True),
    Column("entity_type", String(100), nullable=False),
    Column("entity_id", String(100), nullable=False),
    Column("action", String(20), nullable=False),
    Column("actor_id", Uuid(), nullable=True),
    Column("correlation_id", String(100), nullable=True),
    Column("tenant_id", Uuid(), nullable=True),
    Column("changes", JSON(), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Index("ix_lamina_audit_log_entity", "entity_type", "entity_id", "id"),
)

events = Table(
    "lamina_events",
    lamina_metadata,
    Column("position", Position, Identity(), primary_key=True),
    Column("event_id", Uuid(), nullable=False, unique=True),
    Column("stream_id", String(200), nullable=False),
    Column("stream_version", Integer(), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("schema_version", SmallInteger(), nullable=False),
    Column("payload", JSON(), nullable=False),
    Column("context", JSON(), nullable=False),
    Column("priority", SmallInteger(), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    UniqueConstraint("stream_id", "stream_version"),
)
