"""``Members``: scopes read from a membership table with roles (G10), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Literal
from uuid import UUID

import pytest
from pydantic import Field
from sqlalchemy.orm import DeclarativeBase

from lamina.api import ResourceSchemas
from lamina.domain import (
    IMMUTABLE,
    READ_ONLY,
    Entity,
    InvalidInput,
    NotFound,
    PermissionDenied,
    References,
    Unique,
    uuid7,
)
from lamina.persistence import Database, EntityColumns, UnitOfWork, repository_for
from lamina.service import Members, Service
from tables_kit import fresh_tables

Role = Literal["owner", "editor", "viewer"]


class Club(Entity):
    name: Annotated[str, Field(max_length=50)]


class ClubMembership(Entity):
    club_id: Annotated[UUID, References(Club)]
    user_id: Annotated[UUID, Unique("club_id"), IMMUTABLE]  # only the role changes
    role: Role = "viewer"


class Note(Entity):
    club_id: Annotated[UUID, READ_ONLY, References(Club)]
    text: Annotated[str, Field(max_length=100)]


class ClubBase(EntityColumns, DeclarativeBase): ...


class ClubRow(ClubBase, entity=Club, tablename="t_members_clubs"): ...


class ClubMembershipRow(ClubBase, entity=ClubMembership, tablename="t_members_memberships"): ...


class NoteRow(ClubBase, entity=Note, tablename="t_members_notes"): ...


members = Members(repository_for(ClubMembership), "club_id")


@dataclass(frozen=True)
class Caller:
    user_id: UUID


class ClubService(Service[Club, Caller]):
    scope = members.scope("id")
    write_scope = members.scope("id", "owner")

    async def after_create(self, uow: UnitOfWork, entity: Club) -> None:
        await members.join(uow, entity.id, self.principal, "owner")


class NoteService(Service[Note, Caller]):
    scope = members.scope("club_id")
    write_scope = members.scope("club_id", "owner", "editor")


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    async for database in fresh_tables(db_url, ClubBase.metadata):
        yield database


async def test_g10_members_see_their_groups_and_roles_decide_writes(db: Database) -> None:
    owner, editor, viewer, outsider = (Caller(uuid7()) for _ in range(4))
    club = await ClubService(db, owner).create({"name": "chess"})
    await members.join(db, club.id, editor.user_id, "editor")
    await members.join(db, club.id, viewer, "viewer")

    note = await NoteService(db, editor).create({"club_id": club.id, "text": "e4"})
    assert [n.text for n in await (await NoteService(db, viewer).scoped()).list()] == ["e4"]
    with pytest.raises(PermissionDenied):
        await NoteService(db, viewer).update(note.id, {"text": "d4"})
    with pytest.raises(PermissionDenied):
        await ClubService(db, editor).update(club.id, {"name": "go"})
    assert (await ClubService(db, owner).update(club.id, {"name": "go"})).name == "go"
    with pytest.raises(NotFound):
        await NoteService(db, outsider).get(note.id)
    with pytest.raises(NotFound):
        await NoteService(db, outsider).create({"club_id": club.id, "text": "hi"})
    memberships = await repository_for(ClubMembership)(db).list()
    assert sorted(m.role for m in memberships) == ["editor", "owner", "viewer"]


def test_roles_and_fields_are_checked_when_declared() -> None:
    with pytest.raises(ValueError, match="no role 'admin': role is one of"):
        members.scope("club_id", "admin")
    with pytest.raises(TypeError, match="has no field 'team_id'"):
        Members(repository_for(ClubMembership), "team_id")
    without_roles = Members(repository_for(ClubMembership), "club_id", role=None)
    with pytest.raises(ValueError, match="no roles"):
        without_roles.scope("club_id", "owner")
    assert without_roles.scope("club_id").field == "club_id"


class MembershipService(Service[ClubMembership, Caller]):
    scope = members.scope("club_id")
    write_scope = members.scope("club_id", "owner")


async def test_an_immutable_field_is_set_once_and_never_changed(db: Database) -> None:
    owner = Caller(uuid7())
    club = await ClubService(db, owner).create({"name": "chess"})
    service = MembershipService(db, owner)
    joined = await service.create({"club_id": club.id, "user_id": uuid7(), "role": "viewer"})

    assert (await service.update(joined.id, {"role": "editor"})).role == "editor"
    with pytest.raises(InvalidInput) as refused:
        await service.update(joined.id, {"user_id": owner.user_id})
    assert [e.field for e in refused.value.errors] == ["user_id"]
    schemas = ResourceSchemas.from_entity(ClubMembership)
    assert "user_id" in schemas.create.model_fields
    assert set(schemas.update.model_fields) == {"club_id", "role"}
