"""The user area: accounts, through ``lamina.security`` (register, token, logout, me)."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints
from sqlalchemy import UniqueConstraint

from examples.learning.base import LearningBase, Text
from lamina.domain import READ_ONLY, SENSITIVE, EmailAddress, StandardEntity
from lamina.persistence import Repository


class User(StandardEntity):
    username: Annotated[
        str, READ_ONLY, StringConstraints(pattern=r"^[a-z0-9_]{3,32}$", max_length=32)
    ]
    email: EmailAddress
    display_name: Text
    password_hash: Annotated[str, SENSITIVE, StringConstraints(max_length=200)]
    scopes: Annotated[str, READ_ONLY] = ""  # "tutor" for the tutor bot


class UserRow(LearningBase, entity=User, tablename="learning_users"):
    __table_args__ = (UniqueConstraint("username"), UniqueConstraint("email"))


class Users(Repository[User, UserRow]):
    filterable = ("username",)
