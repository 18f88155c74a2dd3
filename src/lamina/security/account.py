"""``Account``: the user entity every service with logins declares, and its demo users.

A service's users have a login name, an email address, a name to show and a
password hash. Declare the entity from it, adding what is the service's own::

    class User(Account):
        scopes: Annotated[str, READ_ONLY] = ""  # granted scopes, space-separated

    class UserRow(AppBase, entity=User, tablename="users"):
        __table_args__ = (UniqueConstraint("username"), UniqueConstraint("email"))

:class:`RepositoryAccounts` (and :func:`app_with_accounts`) take the entity
itself: its repository filters by ``username`` (:func:`accounts_repository`).
:func:`demo_accounts` registers a service's demo users.
"""

from __future__ import annotations

import functools
import types
from typing import Annotated, Any, TypeVar

from pydantic import StringConstraints

from lamina.domain import (
    READ_ONLY,
    SENSITIVE,
    EmailAddress,
    Entity,
    StandardEntity,
    Unique,
)
from lamina.persistence import Repository, repository_for

E = TypeVar("E", bound=Entity)

Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{3,32}$", max_length=32)]
"""A login name: 3 to 32 lower-case letters, digits and underscores."""


class Account(StandardEntity):
    """A user who logs in: ``username`` (set at registration, never changed), ``email`` (both
    unique), ``display_name`` and the ``password_hash`` (never shown, never set by a client)."""

    username: Annotated[Username, READ_ONLY, Unique()]
    email: Annotated[EmailAddress, Unique()]
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]
    password_hash: Annotated[str, SENSITIVE, StringConstraints(max_length=200)]


def accounts_repository(entity: type[E]) -> type[Repository[E, Any]]:
    """The repository of a user entity (its ``EntityColumns`` row): :func:`repository_for`'s,
    also filtering by ``username`` (logins are looked up by it)."""
    return _accounts_repository(entity)


@functools.cache
def _accounts_repository(entity: type[E]) -> type[Repository[E, Any]]:
    base = repository_for(entity)
    filterable = {**base.allowed_filters(), "username": frozenset({"eq"})}

    def body(namespace: dict[str, Any]) -> None:
        namespace.update(filterable=filterable, __module__=entity.__module__)

    return types.new_class(f"{entity.__name__}Accounts", (base,), exec_body=body)
