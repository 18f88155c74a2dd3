"""The context of the current request or job: who acts, and which chain of work this is.

Set once per request (an API dependency or middleware does it) with
:func:`use_context`; units of work read it to fill actor columns, audit
entries and event metadata, so nothing has to be passed by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from lamina.domain.entity import utcnow
from lamina.domain.ids import uuid7


class EventContext(BaseModel):
    """Who did something, as part of which request, and for which tenant.

    ``correlation_id`` ties together everything one request caused;
    ``causation_id`` names the event (or command) that directly caused this one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    actor_id: UUID | None = None
    correlation_id: str = Field(default_factory=lambda: str(uuid7()))
    causation_id: str | None = None
    tenant_id: UUID | None = None
    occurred_at: datetime = Field(default_factory=utcnow)

    @classmethod
    def current(cls) -> EventContext:
        """The context in force; a fresh anonymous one if none was set."""
        ctx = _current.get()
        if ctx is None:
            ctx = cls()
            _current.set(ctx)
        return ctx

    @classmethod
    def peek(cls) -> EventContext | None:
        """The context in force, or None; unlike :meth:`current` it creates none."""
        return _current.get()

    def with_changes(self, **changes: Any) -> EventContext:
        """A copy with some fields replaced (validated again)."""
        return EventContext.model_validate({**self.__dict__, **changes})


_current: ContextVar[EventContext | None] = ContextVar("lamina_event_context", default=None)


def replace_context(context: EventContext) -> None:
    """Make ``context`` current for the rest of the running task (or request).

    Prefer :func:`use_context` where a ``with`` block fits; this is for code
    that learns the actor midway, such as an authentication dependency.
    """
    _current.set(context)


@contextmanager
def use_context(context: EventContext | None = None, **fields: Any) -> Iterator[EventContext]:
    """Make ``context`` (or one built from ``fields``) current inside the ``with`` block."""
    ctx = context if context is not None else EventContext(**fields)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
