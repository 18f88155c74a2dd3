"""Where a :class:`~lamina.events.StreamConsumer` puts the events its handlers gave up on.

A stream consumer has no database, so its dead letters go to a sink: by
default :class:`JetStreamDeadLetters`, which publishes each one to a JetStream
stream of its own (``<stream>_DEAD_LETTERS``, subjects
``<prefix>_dead_letters.<consumer>.<event type>``) with the original body and
headers plus ``Lamina-Consumer``, ``Lamina-Attempts`` and ``Lamina-Error``.
Re-drive one by re-publishing its body, or read them with ``nats stream view``.
Any object with an ``async def record(letter)`` method can be the sink instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from nats.js import JetStreamContext

from lamina.events import wire
from lamina.events.jetstream import StreamSettings, ensure_stream

CONSUMER = "Lamina-Consumer"
ATTEMPTS = "Lamina-Attempts"
ERROR = "Lamina-Error"
MAX_ERROR_HEADER = 1000


@dataclass(frozen=True)
class StreamDeadLetter:
    """One message a stream consumer could not handle after its retries."""

    consumer: str
    subject: str
    data: bytes
    headers: dict[str, str]
    attempts: int
    error: str
    position: int | None
    """The event's position (None when the message was not a readable lamina event)."""
    event_type: str | None


class DeadLetterSink(Protocol):
    """Keeps the dead letters of a stream consumer."""

    async def record(self, letter: StreamDeadLetter) -> None:
        """Store ``letter`` durably (raise if it could not be: the message is then kept)."""
        ...


class JetStreamDeadLetters:
    """Publishes dead letters to the JetStream stream ``stream`` (created when missing)."""

    def __init__(
        self,
        js: JetStreamContext,
        stream: str,
        subject_prefix: str,
        settings: StreamSettings | None = None,
    ) -> None:
        self.js = js
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.settings = settings if settings is not None else StreamSettings()
        self._ready = False

    def subject(self, letter: StreamDeadLetter) -> str:
        """``<prefix>.<consumer>.<event type>`` of ``letter``."""
        kind = wire.type_tokens(letter.event_type or "unreadable")
        return f"{self.subject_prefix}.{wire.token(letter.consumer)}.{kind}"

    async def record(self, letter: StreamDeadLetter) -> None:
        """Publish ``letter`` and wait for JetStream's acknowledgement."""
        if not self._ready:
            await ensure_stream(self.js, self.stream, [f"{self.subject_prefix}.>"], self.settings)
            self._ready = True
        # JetStream's own headers (message id, expected sequences) were meant for the relay's
        # publish into the relayed stream, not for this one
        headers = {k: v for k, v in letter.headers.items() if not wire.is_jetstream_header(k)}
        headers[CONSUMER] = letter.consumer
        headers[ATTEMPTS] = str(letter.attempts)
        headers[ERROR] = " | ".join(letter.error.split("\n"))[:MAX_ERROR_HEADER].replace("\r", "")
        await self.js.publish(self.subject(letter), letter.data, headers=headers)
