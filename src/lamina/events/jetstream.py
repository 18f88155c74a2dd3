"""Connecting to NATS and making sure a JetStream stream exists: what the relay and
stream consumers share."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js import JetStreamContext
from nats.js.api import Header, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from lamina.events import wire

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


EXPECTED_LAST_SEQUENCE = wire.EXPECTED_LAST_SEQUENCE
"""The header making JetStream store a message only right behind the given sequence."""

EXPECTED_LAST_MSG_ID = wire.EXPECTED_LAST_MSG_ID
"""The header making JetStream store a message only right behind the message of that id."""

WRONG_LAST_SEQUENCE = 10071
"""JetStream's ``err_code`` for a message refused because of :data:`EXPECTED_LAST_SEQUENCE`."""
WRONG_LAST_MSG_ID = 10070
"""JetStream's ``err_code`` for a message refused because of :data:`EXPECTED_LAST_MSG_ID`."""


class PublishFailed(Exception):
    """JetStream refused a message, or did not acknowledge it in time.

    ``code`` is JetStream's ``err_code`` of a refusal (0 when the message was
    not acknowledged in time, or the reply was not a JetStream answer).
    """

    def __init__(self, message: str, *, code: int = 0, timed_out: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.timed_out = timed_out

    @property
    def out_of_place(self) -> bool:
        """True if the message was refused because the stream's last message was not the
        expected one (its sequence or its id)."""
        return self.code in (WRONG_LAST_SEQUENCE, WRONG_LAST_MSG_ID)


@dataclass(frozen=True)
class Outgoing:
    """One message to publish: subject, body, headers."""

    subject: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Ack:
    """JetStream's acknowledgement of one message.

    ``seq`` is the message's sequence in the stream; for a ``duplicate`` it is
    the sequence of the copy stored earlier.
    """

    stream: str
    seq: int
    duplicate: bool


@dataclass(frozen=True)
class BatchOutcome:
    """What JetStream answered to a batch.

    ``acks`` acknowledge the longest prefix of the batch JetStream stored or
    recognised as duplicates, in order; ``failure`` says why the message after
    them was not acknowledged (None when the whole batch was). ``stored_after``
    are acknowledgements of messages *after* that failure which JetStream
    stored nonetheless: a hole, which the expected sequences and ids of
    :meth:`BatchPublisher.publish` rule out (unless another publisher reuses
    the batch's message ids).
    """

    acks: list[Ack]
    failure: PublishFailed | None = None
    stored_after: list[Ack] = field(default_factory=list)


_NO_RESPONDERS = "no responders"


def _answer(reply: object) -> Ack | PublishFailed:
    """One JetStream publish reply as an acknowledgement or a refusal."""
    if reply == _NO_RESPONDERS:
        return PublishFailed("no stream takes the subject (NATS: no responders)")
    if not isinstance(reply, dict):
        return PublishFailed(f"JetStream did not answer as a stream would: {reply!r}")
    error = reply.get("error")
    if error is not None or "stream" not in reply:
        code = int(error.get("err_code", 0)) if isinstance(error, dict) else 0
        described = error.get("description") if isinstance(error, dict) else None
        return PublishFailed(f"JetStream refused a message: {described or reply!r}", code=code)
    return Ack(str(reply["stream"]), int(reply.get("seq", 0)), bool(reply.get("duplicate")))


class BatchPublisher:
    """Publishes batches to JetStream pipelined (every message sent before any ack is awaited)
    and waits until each message of the batch is answered.

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
        if not message.data and (message.headers or {}).get(Header.STATUS) == "503":
            self._acks[key] = _NO_RESPONDERS
        else:
            try:
                self._acks[key] = json.loads(message.data) if message.data else None
            except ValueError:
                self._acks[key] = None
        if not self._waiting:
            self._done.set()

    async def _send(self, subject: str, body: bytes, reply: str, headers: dict[str, str]) -> None:
        """Hand one message to the connection (tests lose messages here)."""
        await self.nc.publish(subject, body, reply=reply, headers=headers)

    async def publish(
        self, messages: Sequence[Outgoing], within: float, *, after: int | None = None
    ) -> BatchOutcome:
        """Publish ``messages`` in order and collect JetStream's answers (within ``within`` s).

        With ``after`` (the stream's last sequence), message ``i`` carries
        ``Nats-Expected-Last-Sequence: after + i`` and, from the second one on,
        ``Nats-Expected-Last-Msg-Id``: the ``Nats-Msg-Id`` of the message
        before it. JetStream stores a message only right behind its
        predecessor in the batch (the sequence alone would let another
        publisher's message take a lost one's place), so once one message is
        lost or refused every later one is refused too and the batch never
        leaves a hole in the stream. A duplicate is still answered as a
        duplicate (JetStream checks message ids first); it does not lengthen
        the stream, so the messages after it are refused.
        """
        if self._sub is None:
            self._inbox = self.nc.new_inbox()
            self._sub = await self.nc.subscribe(f"{self._inbox}.*", cb=self._on_reply)
        self._batch += 1
        keys = [f"{self._batch}-{i}" for i in range(len(messages))]
        self._waiting = set(keys)
        self._acks = {}
        self._done = asyncio.Event()
        for i, (key, message) in enumerate(zip(keys, messages, strict=True)):
            headers = message.headers
            if after is not None:
                headers = {**headers, EXPECTED_LAST_SEQUENCE: str(after + i)}
                previous = messages[i - 1].headers.get(wire.MSG_ID) if i else None
                if previous is not None:
                    headers[EXPECTED_LAST_MSG_ID] = previous
            await self._send(message.subject, message.body, f"{self._inbox}.{key}", headers)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), within)
        missing = len(self._waiting)
        self._waiting = set()
        acks: list[Ack] = []
        failure: PublishFailed | None = None
        stored_after: list[Ack] = []
        for key in keys:
            answer: Ack | PublishFailed
            if key in self._acks:
                answer = _answer(self._acks[key])
            else:
                answer = PublishFailed(
                    f"{missing} of {len(messages)} messages were not acknowledged in {within}s",
                    timed_out=True,
                )
            if failure is None:
                if isinstance(answer, Ack):
                    acks.append(answer)
                else:
                    failure = answer
            elif isinstance(answer, Ack) and not answer.duplicate:
                stored_after.append(answer)
        return BatchOutcome(acks, failure, stored_after)
