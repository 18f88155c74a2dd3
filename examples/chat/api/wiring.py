"""What every chat router needs: the database, the caller, and a service per request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lamina.api import problem_responses, provide_service
from lamina.persistence import Database
from lamina.security import Principal
from lamina.service import Service

S = TypeVar("S", bound=Service[Any, Any])

UNAUTHENTICATED = problem_responses(401)
"""Documents the 401 every authenticated route can answer."""


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of a hand-written route: ``statuses`` plus what every route can
    answer (400 for an unreadable request, 401, 503 when the database is unreachable)."""
    return problem_responses(400, *statuses, 401, 503)


@dataclass
class Wiring:
    """The database and the dependency authenticating the caller (a lamina ``Principal``).

    :meth:`service` gives the FastAPI dependency making a service for the
    request's caller, one per service class, so routers share them.
    """

    db: Database
    principal: Callable[..., Awaitable[Principal]]
    _providers: dict[type[Any], Callable[..., Awaitable[Any]]] = field(
        default_factory=dict, init=False, repr=False
    )

    def service(self, service: type[S]) -> Callable[..., Awaitable[S]]:
        """The dependency giving ``service(db, caller)`` for each request."""
        if service not in self._providers:
            self._providers[service] = provide_service(service, self.db, self.principal)
        return self._providers[service]
