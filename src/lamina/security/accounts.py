"""``RepositoryAccounts``: :class:`UserAccounts` over the application's own user repository.

Every application with users writes the same four methods (find the credentials
by username, store a registration with its hash, load a user for ``/users/me``,
replace a hash); this is them, for a user entity with ``username`` and
``password_hash`` fields::

    accounts = RepositoryAccounts(db, Users, UserOut, scopes_field="scopes")
    app.include_router(auth_router(accounts, authenticator=auth,
                                   registration_model=UserRegistration, user_model=UserOut))
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, SecretStr, ValidationError

from lamina.domain.errors import InvalidInput
from lamina.persistence import Database, Repository, where
from lamina.security.auth_router import Credentials

RegistrationT = TypeVar("RegistrationT", bound=BaseModel)
UserT = TypeVar("UserT", bound=BaseModel)


class RepositoryAccounts(Generic[RegistrationT, UserT]):
    """lamina's :class:`UserAccounts` (and ``PasswordHashUpdates``) over ``users``.

    ``users`` is a :class:`~lamina.persistence.Repository` class whose entity has
    ``username`` (declared ``filterable``; stored in lower case: logins are matched
    in lower case) and ``password_hash``. A registration becomes the entity from
    its fields except ``password``, plus the hash. ``user_model`` is what
    ``/auth/register`` and ``/users/me`` show. ``scopes_field`` names a field of
    space-separated scopes the user may be granted (none without it).
    """

    def __init__(
        self,
        db: Database,
        users: type[Repository[Any, Any]],
        user_model: type[UserT],
        *,
        scopes_field: str | None = None,
    ) -> None:
        self.db = db
        self.users = users
        self.user_model = user_model
        self.scopes_field = scopes_field

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
