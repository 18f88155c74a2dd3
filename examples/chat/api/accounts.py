"""Users as lamina's auth routes see them: registration, the public shape, credentials."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from examples.chat.domain import Name, User, Username
from examples.chat.repositories import Users
from lamina.domain import EmailAddress
from lamina.persistence import Database
from lamina.security import Credentials, Password


class UserRegistration(BaseModel):
    """What a new user sends to ``POST /auth/register``."""

    model_config = ConfigDict(extra="forbid")

    username: Annotated[Username, Field(examples=["alice"])]
    email: EmailAddress
    display_name: Name
    password: Password


class UserOut(BaseModel):
    """A user as ``/auth/register`` and ``/users/me`` return it (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    username: str
    email: str
    display_name: str
    created_at: datetime


class ChatAccounts:
    """lamina's ``UserAccounts`` over the chat's own ``Users`` repository."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def find_credentials(self, username: str) -> Credentials | None:
        user = await Users(self.db).by_username(username)
        return Credentials(user.id, user.password_hash) if user is not None else None

    async def create_user(self, registration: UserRegistration, password_hash: str) -> UserOut:
        user = User(
            username=registration.username,
            email=registration.email.lower(),
            display_name=registration.display_name,
            password_hash=password_hash,
        )
        return UserOut.model_validate(await Users(self.db).add(user))

    async def load_user(self, user_id: UUID) -> UserOut | None:
        user = await Users(self.db).get_or_none(user_id)
        return UserOut.model_validate(user) if user else None

    async def replace_password_hash(self, user_id: UUID, password_hash: str) -> None:
        await Users(self.db).update(user_id, {"password_hash": password_hash})
