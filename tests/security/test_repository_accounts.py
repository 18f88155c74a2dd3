"""``RepositoryAccounts``: lamina's ``UserAccounts`` over an application's user repository."""

from __future__ import annotations

from typing import Annotated

import pytest
from auth_app import (
    FAST_ARGON2,
    Account,
    AccountOut,
    AccountRegistration,
    AccountRepository,
    AccountRow,
)
from pydantic import SecretStr

from lamina.domain import SERVER_OWNED, InvalidInput
from lamina.persistence import Database, Repository
from lamina.security import PasswordHasher, RepositoryAccounts


async def test_registers_finds_loads_and_rehashes_users(db: Database) -> None:
    accounts = RepositoryAccounts(db, AccountRepository, AccountOut)
    registration = AccountRegistration(
        username="ada", email="ada@example.com", display_name="Ada", password=SecretStr("x" * 12)
    )
    created = await accounts.create_user(registration, "hash-1")
    assert (created.username, created.display_name) == ("ada", "Ada")

    found = await accounts.find_credentials("  ADA ")
    assert found is not None
    assert (found.user_id, found.password_hash, found.scopes) == (created.id, "hash-1", frozenset())
    assert await accounts.find_credentials("bob") is None

    await accounts.replace_password_hash(created.id, "hash-2")
    assert (await accounts.find_credentials("ada")).password_hash == "hash-2"  # type: ignore[union-attr]
    assert await accounts.load_user(created.id) == created
    stored = await AccountRepository(db).get(created.id)
    assert stored.password_hash == "hash-2"  # never the password


async def test_scopes_come_from_the_named_field(db: Database) -> None:
    accounts = RepositoryAccounts(db, AccountRepository, AccountOut, scopes_field="display_name")
    registration = AccountRegistration(
        username="root",
        email="r@example.com",
        display_name="admin ops",
        password=SecretStr("x" * 12),
    )
    await accounts.create_user(registration, "h")
    found = await accounts.find_credentials("root")
    assert found is not None
    assert found.scopes == frozenset({"admin", "ops"})


class StaffAccount(Account):
    """An account whose privilege is the server's to grant, never the registrant's."""

    is_admin: Annotated[bool, SERVER_OWNED] = False


class StaffAccounts(Repository[StaffAccount, AccountRow]):
    filterable = ("username",)


async def test_the_registration_and_the_public_shape_follow_from_the_user_entity(
    db: Database,
) -> None:
    accounts = RepositoryAccounts(db, StaffAccounts)
    registration = accounts.registration_model.model_fields
    assert set(registration) == {"username", "email", "display_name", "password"}
    assert "password_hash" not in accounts.user_model.model_fields

    form = {"username": "ada", "email": "ada@example.com", "display_name": "Ada"}
    hasher = PasswordHasher(FAST_ARGON2)
    for smuggled in ({"is_admin": True}, {"password_hash": "chosen"}):
        with pytest.raises(InvalidInput):
            await accounts.register({**form, "password": "x" * 12, **smuggled}, hasher)
    with pytest.raises(InvalidInput):  # the password's own rules
        await accounts.register({**form, "password": "short"}, hasher)

    user = await accounts.register({**form, "password": "x" * 12}, hasher)
    assert user.model_dump().keys() == accounts.user_model.model_fields.keys()
    found = await accounts.find_credentials("ada")
    assert found is not None
    assert found.password_hash.startswith("$argon2id$")
    assert await hasher.verify(found.password_hash, "x" * 12)
    assert (await StaffAccounts(db).get(user.id)).is_admin is False
