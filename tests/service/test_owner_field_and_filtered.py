"""``Service.owner_field`` (created entities get the principal's id) and ``Filtered`` scopes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.service.projects_app import Membership, Memberships, User, new_user

from lamina.domain import InvalidInput, uuid7
from lamina.persistence import Database, any_of, where
from lamina.service import Filtered, OwnedBy, Service


class MyMemberships(Service[Membership, Any]):
    repository = Memberships
    owner_field = "user_id"


def test_owner_field_gives_a_new_entity_the_principals_id(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    user = User(new_user())
    project = uuid7()
    made = MyMemberships(db, user).new_entity({"project_id": project})
    assert (made.user_id, made.project_id) == (user.id, project)
    # The principal's id wins over a value given for the field.
    given = {"project_id": project, "user_id": uuid7()}
    assert MyMemberships(db, user).new_entity(given).user_id == user.id
    # Without a principal nothing is filled in (a service made for None cannot create anyway).
    with pytest.raises(InvalidInput):
        MyMemberships(db, None).new_entity({"project_id": project})


async def test_filtered_scopes_are_the_filters_a_function_of_the_principal_gives(
    tmp_path: Path,
) -> None:
    public = where("status") == "open"
    scope: Filtered[User | None] = Filtered(
        lambda p: [any_of(public, where("id") == p.id)] if p else [public]
    )
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert await scope.filters(None, db) == (public,)
    (mine,) = await scope.filters(User(new_user()), db)
    assert mine.op.value == "any"


def test_a_service_of_the_principals_own_rows_owns_what_it_creates(tmp_path: Path) -> None:
    class Mine(Service[Membership, Any]):
        repository = Memberships
        scope = OwnedBy("user_id")  # the rows I see are mine: those I create are too

    class Keyed(Service[Membership, Any]):
        repository = Memberships
        scope = OwnedBy("user_id", key=lambda p: p.id)  # another key: nothing inferred

    assert (Mine.owner_field, Keyed.owner_field) == ("user_id", None)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    user = User(new_user())
    assert Mine(db, user).new_entity({"project_id": uuid7()}).user_id == user.id
