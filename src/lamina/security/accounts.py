"""``RepositoryAccounts``: :class:`UserAccounts` over the application's own user repository.

Every application with users writes the same four methods (find the credentials
by username, store a registration with its hash, load a user for ``/users/me``,
replace a hash); this is them, for a user entity with ``username`` and
``password_hash`` fields. The registration and the public shape of a user
follow from the entity unless given::

    accounts = RepositoryAccounts(db, Users, scopes_field="scopes")
    app.include_router(auth_router(accounts, authenticator=auth))
    await accounts.register({"username": "ada", "email": ..., "password": ...}, PasswordHasher())
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, SecretStr, ValidationError, create_model

from lamina.api.schemas import create_schema, output_schema
from lamina.domain import SENSITIVE, AlreadyExists, Entity, utcnow
from lamina.domain.errors import InvalidInput
from lamina.persistence import Database, Repository, where
from lamina.security.account import accounts_repository
from lamina.security.auth_router import Credentials, Password
from lamina.security.dependencies import Principal
from lamina.security.passwords import PasswordHasher

RegistrationT = TypeVar("RegistrationT", bound=BaseModel)
UserT = TypeVar("UserT", bound=BaseModel)


class RepositoryAccounts(Generic[RegistrationT, UserT]):
    """lamina's :class:`UserAccounts` (and ``PasswordHashUpdates``) over ``users``.

    ``users`` is the user entity (an :class:`Account`, its repository
    :func:`accounts_repository`), or a :class:`~lamina.persistence.Repository` class whose
    entity has ``username`` (declared ``filterable``; stored in lower case: logins are
    matched in lower case) and ``password_hash``. A registration becomes the entity from
    its fields except ``password``, plus the hash. ``user_model`` is what
    ``/auth/register`` and ``/users/me`` show (default: the entity's output schema
    without its scopes). ``scopes_field`` names a field of space-separated scopes
    the user may be granted (none without it). ``registration_model`` is the body
    of ``/auth/register`` (default: :func:`registration_schema` of the entity).
    """

    def __init__(
        self,
        db: Database,
        users: type[Repository[Any, Any]] | type[Entity],
        user_model: type[UserT] | None = None,
        *,
        scopes_field: str | None = None,
        registration_model: type[RegistrationT] | None = None,
    ) -> None:
        self.db = db
        self.users: type[Repository[Any, Any]] = (
            accounts_repository(users) if issubclass(users, Entity) else users
        )
        users = self.users
        self.scopes_field = scopes_field
        hidden = {scopes_field} if scopes_field else set()
        self.user_model: type[UserT] = user_model or output_schema(  # type: ignore[assignment]
            users.entity, exclude=hidden, name=f"{users.entity.__name__}Out"
        )
        self.registration_model: type[RegistrationT] = (
            registration_model or registration_schema(users.entity)  # type: ignore[assignment]
        )

    async def register(self, values: Mapping[str, Any], passwords: PasswordHasher) -> UserT:
        """Register a user from ``values`` (a registration, ``password`` included), as
        ``POST /auth/register`` does: for demo data, fixtures and admin commands."""
        try:
            registration = self.registration_model.model_validate(values)
        except ValidationError as exc:
            raise InvalidInput.from_validation_error(exc) from None
        secret = registration.password  # type: ignore[attr-defined]
        plain = secret.get_secret_value() if isinstance(secret, SecretStr) else str(secret)
        return await self.create_user(registration, await passwords.hash(plain))

    async def find_credentials(self, username: str) -> Credentials | None:
        found = await self.users(self.db).list(
            where("username") == username.strip().lower(), limit=1
        )
        if not found:
            return None
        user = found[0]
        scopes = getattr(user, self.scopes_field) if self.scopes_field else ""
        return Credentials(user.id, user.password_hash, frozenset(scopes.split()))

    async def create_user(self, registration: RegistrationT, password_hash: str) -> UserT:
        values = {
            name: value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in registration
            if name != "password"
        }
        try:
            user = self.users.entity.model_validate({**values, "password_hash": password_hash})
        except ValidationError as exc:
            raise InvalidInput.from_validation_error(exc) from None
        return self.user_model.model_validate(
            await self.users(self.db).add(user), from_attributes=True
        )

    async def load_user(self, user_id: UUID) -> UserT | None:
        user = await self.users(self.db).get_or_none(user_id)
        return self.user_model.model_validate(user, from_attributes=True) if user else None

    async def replace_password_hash(self, user_id: UUID, password_hash: str) -> None:
        await self.users(self.db).update(user_id, {"password_hash": password_hash})


def registration_schema(
    entity: type[Entity], *, username_field: str = "username", name: str | None = None
) -> type[BaseModel]:
    """``<Entity>Registration``: what a new user sends: the client-settable fields of
    ``entity`` and its ``username_field`` (read-only once registered), without its sensitive
    ones (the password hash), plus ``password`` (:data:`Password`). Unknown fields are
    refused; scopes and other read-only or server-owned fields cannot be chosen."""
    settable = create_schema(entity)
    fields = {
        field: (info.annotation, info)
        for field, info in settable.model_fields.items()
        if field not in entity.fields_marked(SENSITIVE)
    }
    login = entity.model_fields[username_field]
    return create_model(  # type: ignore[no-any-return,call-overload]
        name or f"{entity.__name__}Registration",
        __config__=settable.model_config,
        __doc__=f"What a new {entity.__name__} sends to register.",
        **{username_field: (login.annotation, login), **fields, "password": (Password, ...)},
    )


async def demo_accounts(
    db: Database,
    users: type[Entity] | type[Repository[Any, Any]],
    logins: Sequence[tuple[str, str]],
    passwords: PasswordHasher | None = None,
) -> list[Principal] | None:
    """Register the demo ``logins`` (``(username, password)`` pairs) as users: email
    ``<username>@example.com``, display name the username capitalized. Their principals,
    to make the rest of the demo data with, or None when they are registered already::

        users = await demo_accounts(db, User, [("ines", "ines-password"), ("sam", "…")])
        if users is None:
            return False  # the demo data is there
        ines, sam = users
    """
    accounts: RepositoryAccounts[Any, Any] = RepositoryAccounts(db, users)
    principals = []
    try:
        for name, password in logins:
            values = {"username": name, "email": f"{name}@example.com", "password": password}
            user = await accounts.register(
                {**values, "display_name": name.title()}, passwords or PasswordHasher()
            )
            principals.append(Principal(user.id, frozenset(), utcnow(), "demo"))
    except AlreadyExists:
        return None
    return principals
