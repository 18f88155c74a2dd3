"""``RepositoryAccounts``: lamina's ``UserAccounts`` over an application's user repository."""

from __future__ import annotations

from auth_app import AccountOut, AccountRegistration, AccountRepository
from pydantic import SecretStr

from lamina.persistence import Database
from lamina.security import RepositoryAccounts


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
