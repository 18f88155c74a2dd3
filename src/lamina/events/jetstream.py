"""Connecting to NATS and making sure a JetStream stream exists: what the relay and
stream consumers share."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

logger = logging.getLogger("lamina.events")

Retention = Literal["limits", "interest", "workqueue"]


@dataclass(frozen=True)
class StreamSettings:
    """How a JetStream stream is created when it is missing (an existing one is left as is).

    ``retention`` is JetStream's policy (``"limits"`` keeps messages until
    ``max_age`` / ``max_bytes`` / ``max_msgs``, 0 meaning unlimited);
    ``duplicate_window`` (seconds) is how long JetStream remembers message ids
    to drop re-published copies.
    """

    retention: Retention = "limits"
    max_age: float = 0
    max_bytes: int = 0
    max_msgs: int = 0
    duplicate_window: float = 120.0
    storage: Literal["file", "memory"] = "file"

    def config(self, name: str, subjects: Sequence[str]) -> StreamConfig:
        """The stream configuration of stream ``name`` holding ``subjects``."""
        return StreamConfig(
            name=name,
            subjects=list(subjects),
            retention=RetentionPolicy(self.retention),
            max_age=self.max_age or None,
            max_bytes=self.max_bytes or None,
            max_msgs=self.max_msgs or None,
            duplicate_window=self.duplicate_window,
            storage=StorageType(self.storage),
        )


async def _disconnected() -> None:
    logger.warning("NATS connection lost; reconnecting")


async def _reconnected() -> None:
    logger.info("NATS connection re-established")


async def _error(error: Exception) -> None:
    logger.debug("NATS client error: %s", error)


async def connect(servers: str | Sequence[str], *, name: str) -> Client:
    """A NATS connection that reconnects for ever (raises if no server answers at first)."""
    urls = [servers] if isinstance(servers, str) else list(servers)
    return await nats.connect(
        servers=urls,
        name=name,
        connect_timeout=2,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.25,
        disconnected_cb=_disconnected,
        reconnected_cb=_reconnected,
        error_cb=_error,
    )


async def ensure_stream(
    js: JetStreamContext, name: str, subjects: Sequence[str], settings: StreamSettings
) -> None:
    """Create stream ``name`` for ``subjects`` unless it exists."""
    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(settings.config(name, subjects))
        logger.info("created JetStream stream %s for %s", name, ", ".join(subjects))
