"""Users as lamina's auth routes see them: registration and the public shape."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from examples.chat.domain import Username
from examples.chat.repositories import Users
from lamina.api import RequestBody
from lamina.domain import EmailAddress, Name
from lamina.persistence import Database
from lamina.security import Password, RepositoryAccounts


class UserRegistration(RequestBody):
    """What a new user sends to ``POST /auth/register``."""

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


def chat_accounts(db: Database) -> RepositoryAccounts[UserRegistration, UserOut]:
    """lamina's accounts over the chat's own ``Users`` repository."""
    return RepositoryAccounts(db, Users, UserOut, registration_model=UserRegistration)
