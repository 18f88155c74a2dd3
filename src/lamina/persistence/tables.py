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

subscriptions = Table(
    "lamina_subscriptions",
    lamina_metadata,
    Column("name", String(200), primary_key=True),
    Column("position", Position, nullable=False, default=0),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("owner", String(200), nullable=True),
    Column("lease_expires_at", UTCDateTime(), nullable=True),
)
"""Durable checkpoint of each event subscription: the last position it fully handled.

``owner`` / ``lease_expires_at``: the runner currently consuming it (one at a time);
another runner may take over once the lease has expired.
"""

dead_letters = Table(
    "lamina_dead_letters",
    lamina_metadata,
    Column("id", Uuid(), primary_key=True),
    Column("subscription", String(200), nullable=False),
    Column("position", Position, nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("error", String(2000), nullable=False),
    Column("failed_at", UTCDateTime(), nullable=False),
    Column("resolved_at", UTCDateTime(), nullable=True),
    Column("redrive_requested_at", UTCDateTime(), nullable=True),
    UniqueConstraint("subscription", "position"),
)
"""Events a subscription gave up on after its retries; re-drivable.

``redrive_requested_at`` is set by ``lamina events retry``; the subscription's runner
then handles the event again and sets ``resolved_at`` when it succeeds.
"""

access_tokens = Table(
    "lamina_access_tokens",
    lamina_metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Uuid(), nullable=False, index=True),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("scopes", String(1000), nullable=False, server_default=""),
    Column("expires_at", UTCDateTime(), nullable=False, index=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
)
"""Issued access tokens (only a SHA-256 of each is stored), so they can expire and be revoked."""

stream_tickets = Table(
    "lamina_stream_tickets",
    lamina_metadata,
    Column("ticket_hash", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False, index=True),
    Column("used_at", UTCDateTime(), nullable=True),
)
"""Single-use tickets that open a live stream from a browser (``EventSource`` sends no
header): only a SHA-256 of each is kept, with the access token it stands for."""

rate_events = Table(
    "lamina_rate_events",
    lamina_metadata,
    Column("id", Uuid(), primary_key=True),
    Column("scope", String(40), nullable=False),
    Column("key", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_lamina_rate_events_key_at", "key", "at"),
)
"""Counted attempts of rate limits (logins, registrations): one row per attempt and window,
``key`` the SHA-256 of scope and key, so every worker and every restart sees the same
sliding windows."""
