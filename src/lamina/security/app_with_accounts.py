"""``app_with_accounts``: the whole app of a service whose users log in, from its settings.

A service with accounts wires the same things every time: the database of its
settings, :func:`~lamina.api.service_app` with its projections, a token store
and an :class:`Authenticator`, the register / token / logout / me routes over
its users' repository, and its resources for each request's principal. It
writes only what is its own::

    def create_app(settings: ServiceSettings | None = None) -> FastAPI:
        return app_with_accounts(
            settings, title="lamina learning", users=User,
            routers=[course_routers, learning_routers],
            subscriptions=[course_stats], anonymous_reads=True,
        )

``routers`` are functions of :class:`~lamina.api.Resources` giving the app's
routers. ``create_app`` needs no argument, so it is the factory uvicorn workers
call (``serve("myapp.app:create_app")``). A service that needs more (live streams,
a relay, throttles of its own) builds its app from the same parts by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI

from lamina.api.service_app import service_app
from lamina.api.wiring import Resources
from lamina.domain import Entity
from lamina.events import Subscription
from lamina.persistence import Database, Repository
from lamina.security.accounts import RepositoryAccounts
from lamina.security.auth_router import auth_router
from lamina.security.dependencies import Authenticator
from lamina.security.service_settings import ServiceSettings
from lamina.security.tokens import TokenStore

RoutersOf = Callable[[Resources], Iterable[APIRouter]]
"""A function giving some of an app's routers, for its :class:`~lamina.api.Resources`."""


def app_with_accounts(
    settings: ServiceSettings | None,
    *,
    title: str,
    users: type[Entity] | type[Repository[Any, Any]],
    routers: RoutersOf | Sequence[RoutersOf],
    subscriptions: Sequence[Callable[[Database], Subscription]] = (),
    anonymous_reads: bool = False,
    scopes: Mapping[str, str] | None = None,
    scopes_field: str | None = None,
    description: str = "",
) -> FastAPI:
    """The service's FastAPI app on the (already migrated) database of ``settings``
    (default: :class:`ServiceSettings` from the environment).

    ``routers`` is a function of :class:`~lamina.api.Resources` giving routers, or several
    (one per area of the app). ``users`` is the user entity (an :class:`Account`) or its
    repository class (see :class:`RepositoryAccounts`). ``subscriptions`` are functions of
    the database giving the projections run with the app. With ``anonymous_reads``, a
    request without a token reaches the services with no principal (``None``: they decide
    what an anonymous caller sees) instead of a 401. ``scopes`` are the scopes a token may
    carry (name → description, shown on the docs' login form), granted from the users'
    ``scopes_field``.
    """
    settings = settings or ServiceSettings()
    db = settings.database()
    app = service_app(
        db,
        title=title,
        description=description,
        subscriptions=[subscription(db) for subscription in subscriptions],
        settings=settings.api_settings(),
    )
    auth = Authenticator(TokenStore(db), scopes=dict(scopes or {}))
    accounts: RepositoryAccounts[Any, Any] = RepositoryAccounts(
        db, users, scopes_field=scopes_field
    )
    passwords = settings.password_hasher()
    app.include_router(auth_router(accounts, authenticator=auth, passwords=passwords))
    principal = auth.optional_principal if anonymous_reads else auth.current_principal
    resources = Resources(db, principal)
    for routers_of in routers if isinstance(routers, Sequence) else [routers]:
        for router in routers_of(resources):
            app.include_router(router)
    app.state.authenticator = auth
    return app
