"""Connecting to NATS and making sure a JetStream stream exists: what the relay and
stream consumers share."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
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
    nc = await nats.connect(
        servers=urls,
        name=name,
        connect_timeout=2,
        allow_reconnect=True,
        max_reconnect_attempts=1,  # the first connection fails promptly (the caller retries)
        reconnect_time_wait=0.25,
        disconnected_cb=_disconnected,
        reconnected_cb=_reconnected,
        error_cb=_error,
    )
    nc.options["max_reconnect_attempts"] = -1  # once connected, reconnect for ever
    return nc


async def ensure_stream(
    js: JetStreamContext, name: str, subjects: Sequence[str], settings: StreamSettings
) -> None:
    """Create stream ``name`` for ``subjects`` unless it exists."""
    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(settings.config(name, subjects))
        logger.info("created JetStream stream %s for %s", name, ", ".join(subjects))


class PublishFailed(Exception):
    """JetStream refused a message, or did not acknowledge a batch in time."""


@dataclass(frozen=True)
class Outgoing:
    """One message to publish: subject, body, headers."""

    subject: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Ack:
    """JetStream's acknowledgement of one message."""

    stream: str
    seq: int
    duplicate: bool


class BatchPublisher:
    """Publishes batches to JetStream pipelined (every message sent before any ack is awaited)
    and waits until each message of the batch is acknowledged.

    Acknowledgements come back on one subscription of a private inbox; an ack
    of an earlier, abandoned batch is ignored.
    """

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self._inbox = ""
        self._sub: NatsSubscription | None = None
        self._batch = 0
        self._waiting: set[str] = set()
        self._acks: dict[str, Any] = {}
        self._done = asyncio.Event()

    async def _on_reply(self, message: Msg) -> None:
        key = message.subject.rpartition(".")[2]
        if key not in self._waiting:
            return
        self._waiting.discard(key)
        try:
            self._acks[key] = json.loads(message.data) if message.data else None
        except ValueError:
            self._acks[key] = None
        if not self._waiting:
            self._done.set()

    async def publish(self, messages: Sequence[Outgoing], within: float) -> list[Ack]:
        """Publish ``messages`` in order; their acks in the same order.

        Raises :class:`PublishFailed` if one is refused or the batch is not
        acknowledged within ``within`` seconds (some may be stored anyway).
        """
        if self._sub is None:
            self._inbox = self.nc.new_inbox()
            self._sub = await self.nc.subscribe(f"{self._inbox}.*", cb=self._on_reply)
        self._batch += 1
        keys = [f"{self._batch}-{i}" for i in range(len(messages))]
        self._waiting = set(keys)
        self._acks = {}
        self._done = asyncio.Event()
        for key, message in zip(keys, messages, strict=True):
            await self.nc.publish(
                message.subject,
                message.body,
                reply=f"{self._inbox}.{key}",
                headers=message.headers,
            )
        try:
            await asyncio.wait_for(self._done.wait(), within)
        except TimeoutError:
            missing = len(self._waiting)
            self._waiting = set()
            raise PublishFailed(
                f"{missing} of {len(messages)} messages were not acknowledged in {within}s"
            ) from None
        acks: list[Ack] = []
        for key in keys:
            reply = self._acks[key]
            if not isinstance(reply, dict) or "error" in reply or "stream" not in reply:
                raise PublishFailed(f"JetStream refused a message: {reply!r}")
            acks.append(
                Ack(reply["stream"], int(reply.get("seq", 0)), bool(reply.get("duplicate")))
            )
        return acks
