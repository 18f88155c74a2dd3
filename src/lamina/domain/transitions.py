"""Status fields that only move along declared transitions (forward-only lifecycles)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Generic, TypeVar

from lamina.domain.errors import Conflict

S = TypeVar("S", bound=StrEnum)


class Transitions(Generic[S]):
    """The moves a status may make; anything else is a :class:`~lamina.domain.Conflict`::

        RUN = Transitions({Status.QUEUED: {Status.RUNNING, Status.CANCELLED},
                           Status.RUNNING: {Status.SUCCEEDED, Status.FAILED}}, what="execution")
        RUN.check(execution.status, Status.RUNNING)     # raises unless the move is allowed

    A status without an entry is final. ``what`` names the thing in the error.
    """

    def __init__(self, allowed: Mapping[S, Collection[S]], *, what: str = "item") -> None:
        self.allowed = {status: frozenset(targets) for status, targets in allowed.items()}
        self.what = what

    def can(self, current: S, new: S) -> bool:
        """True if ``current`` may become ``new``."""
        return new in self.allowed.get(current, ())

    def check(self, current: S, new: S) -> None:
        """Raise :class:`~lamina.domain.Conflict` (409 over HTTP) unless the move is allowed."""
        if not self.can(current, new):
            allowed = ", ".join(sorted(self.allowed.get(current, ()))) or "nothing (final)"
            raise Conflict(
                f"a {current.value} {self.what} cannot become {new.value}; it may become {allowed}"
            )
