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

BatchHandler = Callable[[list[tuple[E, StoredEvent]]], Awaitable[None]]
"""``async def handler(events)``: the decoded events of one read batch, with their records."""

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
        self._together: dict[str, BatchHandler[Any]] = {}

    def __repr__(self) -> str:
        return f"Subscription({self.name!r}, handles={sorted(self.event_types)})"

    def handles(self, *event_classes: type[E]) -> Callable[[Handler[E]], Handler[E]]:
        """Decorate the handler of ``event_classes`` (one handler per type in a subscription)."""

        def register(handler: Handler[E]) -> Handler[E]:
            self._register(event_classes, self._handlers, handler)
            return handler

        return register

    def handles_together(
        self, *event_classes: type[E]
    ) -> Callable[[BatchHandler[E]], BatchHandler[E]]:
        """Decorate a handler that takes the events of ``event_classes`` of a read batch at once.

        For projections where many events come down to one write (the newest
        of each stream, a sum)::

            @activity.handles_together(MessagePosted)
            async def mark(events: list[tuple[MessagePosted, StoredEvent]]) -> None: ...

        The events come in log order (by priority across streams, as single
        events do), in one call at the place of the first of them in the
        batch. If the call keeps failing, each event is dead-lettered; a
        re-drive hands them back one at a time.
        """

        def register(handler: BatchHandler[E]) -> BatchHandler[E]:
            self._register(event_classes, self._together, handler)
            return handler

        return register

    def _register(
        self, event_classes: tuple[type[E], ...], table: dict[str, Any], handler: Any
    ) -> None:
        if not event_classes:
            raise ValueError("name at least one event class")
        for event_class in event_classes:
            name = event_class.event_type
            if name in self._handlers or name in self._together:
                raise ValueError(f"{self.name!r} already has a handler for {name!r}")
            if self.registry is not None:
                self.registry.register(event_class)
            table[name] = handler

    @property
    def event_types(self) -> frozenset[str]:
        """The type names this subscription handles."""
        return frozenset(self._handlers) | frozenset(self._together)

    def wants(self, record: StoredEvent) -> bool:
        """True if a handler of this subscription takes ``record``'s type."""
        return record.event_type in self._handlers or record.event_type in self._together

    def deliveries(self, records: list[StoredEvent]) -> list[list[StoredEvent]]:
        """``records`` (in the order to handle them) as the calls that handle them: one each,
        and one for all those of each :meth:`handles_together` handler."""
        units: list[list[StoredEvent]] = []
        together: dict[int, list[StoredEvent]] = {}
        for record in records:
            handler = self._together.get(record.event_type)
            if handler is None:
                units.append([record])
            elif id(handler) in together:
                together[id(handler)].append(record)
            else:
                together[id(handler)] = [record]
                units.append(together[id(handler)])
        return units

    async def handle(self, records: list[StoredEvent]) -> None:
        """Decode ``records`` (one of :meth:`deliveries`) and run their handler once.

        No retry here: the runner retries.
        """
        first = records[0].event_type
        together = self._together.get(first)
        if together is not None:
            await together([(record.decode(self.registry), record) for record in records])
            return
        handler = self._handlers.get(first)
        if handler is not None:
            for record in records:
                await handler(record.decode(self.registry), record)
