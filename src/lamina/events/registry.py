"""Which class an event type name stands for, and how older schema versions are upcast.

A stored event keeps its type name and the schema version it was written with.
Reading it back finds the :class:`~lamina.domain.DomainEvent` subclass declaring
that type and, when the class has moved on to a newer schema version, runs the
registered upcasters one version at a time::

    class MessagePosted(DomainEvent, type="message.posted", version=2):
        conversation_id: UUID
        text: str
        mentions: list[str]

    @default_registry.upcaster("message.posted", from_version=1)
    def _add_mentions(payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "mentions": []}
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from pydantic import ValidationError

from lamina.domain.events import DomainEvent

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]
"""Turns the payload of schema version ``n`` into that of version ``n + 1``."""

E = TypeVar("E", bound=type[DomainEvent])
U = TypeVar("U", bound=Upcaster)


class EventDecodeError(Exception):
    """A stored event cannot be turned back into its class (unknown type, bad or newer payload)."""


class EventRegistry:
    """Maps event type names to classes and holds the upcasters of older schema versions.

    With ``discover=True`` (the :data:`default_registry`), a type name that was
    not registered explicitly is looked up among all imported subclasses of
    :class:`~lamina.domain.DomainEvent`.
    """

    def __init__(self, *, discover: bool = False) -> None:
        self.discover = discover
        self._classes: dict[str, type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_class: E) -> E:
        """Register ``event_class`` under its type name (usable as a class decorator)."""
        name = event_class.event_type
        known = self._classes.get(name)
        if known is not None and known is not event_class:
            raise ValueError(
                f"event type {name!r} is declared by both {_qualname(known)} "
                f"and {_qualname(event_class)}"
            )
        self._classes[name] = event_class
        return event_class

    def upcaster(
        self, event_type: str | type[DomainEvent], *, from_version: int
    ) -> Callable[[U], U]:
        """Decorate the function upcasting ``event_type`` payloads from ``from_version``."""
        name = event_type if isinstance(event_type, str) else event_type.event_type
        if from_version < 1:
            raise ValueError("schema versions start at 1")

        def add(upcast: U) -> U:
            key = (name, from_version)
            if key in self._upcasters:
                raise ValueError(f"{name!r} already has an upcaster from version {from_version}")
            self._upcasters[key] = upcast
            return upcast

        return add

    def event_class(self, event_type: str) -> type[DomainEvent]:
        """The class of ``event_type``; raises :class:`EventDecodeError` when none is known."""
        found = self._classes.get(event_type)
        if found is not None:
            return found
        if self.discover:
            matches = {c for c in _all_event_classes() if c.event_type == event_type}
            if len(matches) == 1:
                return self.register(matches.pop())
            if len(matches) > 1:
                names = ", ".join(sorted(_qualname(c) for c in matches))
                raise EventDecodeError(f"event type {event_type!r} is declared by {names}")
        raise EventDecodeError(f"no event class is known for type {event_type!r}")

    def event_classes(self) -> dict[str, type[DomainEvent]]:
        """Every event class this registry knows, by type name: the registered ones and,
        with ``discover``, every imported subclass of :class:`~lamina.domain.DomainEvent`
        (a type name two classes declare is left out)."""
        found: dict[str, type[DomainEvent]] = {}
        if self.discover:
            seen: dict[str, set[type[DomainEvent]]] = {}
            for cls in _all_event_classes():
                seen.setdefault(cls.event_type, set()).add(cls)
            found = {name: next(iter(c)) for name, c in seen.items() if len(c) == 1}
        found.update(self._classes)
        return dict(sorted(found.items()))

    def upcast(self, event_type: str, schema_version: int, payload: Payload) -> Payload:
        """``payload``, written with ``schema_version``, upcast to the current version."""
        target = self.event_class(event_type).schema_version
        if schema_version > target:
            raise EventDecodeError(
                f"{event_type!r} was stored with schema version {schema_version}, "
                f"newer than this code's version {target}"
            )
        for version in range(schema_version, target):
            upcast = self._upcasters.get((event_type, version))
            if upcast is None:
                raise EventDecodeError(
                    f"{event_type!r} has no upcaster from schema version {version} to {version + 1}"
                )
            payload = upcast(payload)
        return payload

    def decode(self, event_type: str, schema_version: int, payload: Payload) -> DomainEvent:
        """The event object of a stored payload, upcast to the current schema and validated."""
        event_class = self.event_class(event_type)
        upcast = self.upcast(event_type, schema_version, payload)
        try:
            return event_class.model_validate(upcast)
        except ValidationError as error:
            raise EventDecodeError(
                f"stored {event_type!r} (schema version {schema_version}) does not fit "
                f"{_qualname(event_class)}: {error}"
            ) from error


def _all_event_classes() -> Iterator[type[DomainEvent]]:
    pending = list(DomainEvent.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "event_type" in cls.__dict__:
            yield cls


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


default_registry = EventRegistry(discover=True)
"""The registry used when none is given: finds every imported event class by its type name."""
