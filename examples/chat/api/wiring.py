"""The answers every hand-written chat route documents (the routers themselves get lamina's
``Resources``: the database, the caller, a service per request, the 401 documented)."""

from __future__ import annotations

from typing import Any

from lamina.api import problem_responses


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of a hand-written route: ``statuses`` plus what every route can
    answer (400 for an unreadable request, 401, 503 when the database is unreachable)."""
    return problem_responses(400, *statuses, 401, 503)
