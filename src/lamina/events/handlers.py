"""Subscriptions: named consumers of the event log, each with its handlers and retry policy.

>>> notifications = Subscription("notifications", retry=HandlerRetry(max_attempts=5))
>>>
>>> @notifications.handles(MessagePosted)
... async def notify_participants(event: MessagePosted, record: StoredEvent) -> None:
...     ...

A subscription has one durable checkpoint (``lamina_subscriptions``), so each
of its handlers sees every event of its types at least once: make handlers
idempotent (``record.event_id`` and ``record.position`` are stable keys).
An event type has at most one handler per subscription; give independent
reactions their own subscriptions, so one failing does not hold the other back.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from lamina.domain.events import DomainEvent
from lamina.events.registry import EventRegistry
from lamina.events.stored import StoredEvent

E = TypeVar("E", bound=DomainEvent)

Handler = Callable[[E, StoredEvent], Awaitable[None]]
"""``async def handler(event, record)``: the decoded event and its stored record."""

ResetProjection = Callable[[], Awaitable[None]]
"""Empties a projection before it is rebuilt by a replay from position 0."""


@dataclass(frozen=True)
class HandlerRetry:
    """How often a failing handler is retried before its event goes to the dead letters.

    Attempt ``n`` (from 1) failing waits about ``base_delay * 2 ** (n - 1)``
    seconds (at most ``max_delay``, with jitter between half and all of it)
    before attempt ``n + 1``; after ``max_attempts`` failures the event is
    dead-lettered and the subscription moves on.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait after ``failed_attempts`` failures (1 for the first)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (failed_attempts - 1))
        return random.uniform(ceiling / 2, ceiling)


class Subscription:
    """A named consumer of the event log: its handlers by event type, retries, projection reset.

    ``reset`` (optional) empties what the handlers built; a replay from
    position 0 calls it first, so the projection is rebuilt from scratch.
    ``start`` is where a new subscription begins: the ``"beginning"`` of the log
    (projections) or its ``"end"`` (reactions such as e-mails that should not
    fire for history). ``registry`` finds event classes by type name (default:
    every imported one).
    """

    def __init__(
        self,
        name: str,
        *,
        retry: HandlerRetry | None = None,
        reset: ResetProjection | None = None,
        start: Literal["beginning", "end"] = "beginning",
        registry: EventRegistry | None = None,
    ) -> None:
        if not name or len(name) > 200:
            raise ValueError("a subscription name has 1 to 200 characters")
        self.name = name
        self.retry = retry if retry is not None else HandlerRetry()
        self.reset = reset
        self.start = start
        self.registry = registry
        self._handlers: dict[str, Handler[Any]] = {}

    def __repr__(self) -> str:
        return f"Subscription({self.name!r}, handles={sorted(self._handlers)})"

    def handles(self, *event_classes: type[E]) -> Callable[[Handler[E]], Handler[E]]:
        """Decorate the handler of ``event_classes`` (one handler per type in a subscription)."""
        if not event_classes:
            raise ValueError("name at least one event class")

        def register(handler: Handler[E]) -> Handler[E]:
            for event_class in event_classes:
                name = event_class.event_type
                if name in self._handlers:
                    raise ValueError(f"{self.name!r} already has a handler for {name!r}")
                if self.registry is not None:
                    self.registry.register(event_class)
                self._handlers[name] = handler
            return handler

        return register

    @property
    def event_types(self) -> frozenset[str]:
        """The type names this subscription handles."""
        return frozenset(self._handlers)

    def wants(self, record: StoredEvent) -> bool:
        """True if a handler of this subscription takes ``record``'s type."""
        return record.event_type in self._handlers

    async def handle(self, record: StoredEvent) -> None:
        """Decode ``record`` and run its handler once (no retry here; the runner retries)."""
        handler = self._handlers.get(record.event_type)
        if handler is None:
            return
        await handler(record.decode(self.registry), record)
