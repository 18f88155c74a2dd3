"""The user area: accounts, through ``lamina.security`` (register, token, logout, me)."""

from __future__ import annotations

from typing import Annotated

from examples.learning.base import LearningBase
from lamina.domain import READ_ONLY
from lamina.security import Account


class User(Account):
    scopes: Annotated[str, READ_ONLY] = ""  # "tutor" for the tutor bot


class UserRow(LearningBase, entity=User, tablename="learning_users"): ...  # unique: Account's
