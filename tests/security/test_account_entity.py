"""``lamina.security.Account``: a user entity declared in one line, its accounts and demo users."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import pytest
from auth_app import FAST_ARGON2
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import DeclarativeBase

from lamina.domain import READ_ONLY, AlreadyExists, InvalidInput
from lamina.persistence import Base, Database, EntityColumns, new_metadata
from lamina.security import (
    Account,
    PasswordHasher,
    RepositoryAccounts,
    accounts_repository,
    demo_accounts,
)


class Member(Account):
    scopes: Annotated[str, READ_ONLY] = ""


class MembersBase(EntityColumns, DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = Base.type_annotation_map


class MemberRow(MembersBase, entity=Member, tablename="t_account_members"):
    __table_args__ = (UniqueConstraint("username"), UniqueConstraint("email"))


@pytest.fixture
async def members_db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await database.drop_all(MembersBase.metadata)
    await database.create_all(MembersBase.metadata)
    yield database
    await database.drop_all(MembersBase.metadata)
    await database.close()


def test_the_accounts_repository_finds_users_by_username() -> None:
    members = accounts_repository(Member)
    assert accounts_repository(Member) is members
    assert set(members.allowed_filters()) == {"id", "username", "email"}  # Unique fields filter
    assert {"username", "email", "display_name", "password_hash", "scopes"} <= set(
        Member.model_fields
    )


async def test_accounts_over_the_entity_register_and_log_in(members_db: Database) -> None:
    accounts = RepositoryAccounts(members_db, Member, scopes_field="scopes")
    passwords = PasswordHasher(FAST_ARGON2)
    form = {"username": "ada", "email": "ada@example.com", "display_name": "Ada"}
    user = await accounts.register({**form, "password": "a long password"}, passwords)
    assert "password_hash" not in type(user).model_fields  # never shown
    assert "scopes" not in accounts.registration_model.model_fields  # never chosen
    found = await accounts.find_credentials(" ADA ")
    assert found is not None
    assert found.user_id == user.id  # type: ignore[attr-defined]
    assert await passwords.verify(found.password_hash, "a long password")
    with pytest.raises(AlreadyExists):
        await accounts.register({**form, "password": "another password"}, passwords)
    with pytest.raises(InvalidInput):  # the username's rule comes from Account
        await accounts.register({**form, "username": "A!", "password": "x" * 12}, passwords)


async def test_demo_accounts_are_registered_once(members_db: Database) -> None:
    logins = [("ines", "ines-demo-password"), ("sam", "sam-demo-password")]
    passwords = PasswordHasher(FAST_ARGON2)
    ines, sam = await demo_accounts(members_db, Member, logins, passwords) or ()
    stored = await accounts_repository(Member)(members_db).get(ines.user_id)
    assert (stored.username, stored.email, stored.display_name) == (
        "ines",
        "ines@example.com",
        "Ines",
    )
    assert sam.user_id != ines.user_id
    assert await demo_accounts(members_db, Member, logins, passwords) is None  # there already
