"""``Transitions``: a status moves only along the declared edges; anything else is a Conflict."""

from __future__ import annotations

import enum

import pytest

from lamina.domain import Conflict, Transitions


class Status(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


FORWARD = Transitions({Status.QUEUED: {Status.RUNNING}, Status.RUNNING: {Status.DONE}}, what="run")


def test_declared_moves_are_allowed_and_others_refused_with_what_may_come_next() -> None:
    assert FORWARD.can(Status.QUEUED, Status.RUNNING)
    FORWARD.check(Status.RUNNING, Status.DONE)
    with pytest.raises(Conflict, match="a running run cannot become queued; it may become done"):
        FORWARD.check(Status.RUNNING, Status.QUEUED)
    with pytest.raises(Conflict, match="nothing"):
        FORWARD.check(Status.DONE, Status.RUNNING)
    assert not FORWARD.can(Status.QUEUED, Status.QUEUED)
