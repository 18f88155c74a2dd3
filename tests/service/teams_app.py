"""A small team app the ``Links``, bound-reference and ``create_many`` tests run against.

Teams hold parts; a part needs other parts (a self-referential, acyclic link) and has labels
(named, made on demand); a drawing refers to a part of its own team. A member sees the rows of
its teams; a reader may not change them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import Header
from pydantic import Field, StringConstraints
from sqlalchemy.orm import DeclarativeBase

from lamina.domain import (
    READ_ONLY,
    Entity,
    Numbered,
    References,
    Timestamped,
    Unique,
    Versioned,
    uuid7,
)
from lamina.persistence import Database, EntityColumns, Repository, repository_for, where
from lamina.service import Action, Filtered, Links, Policy, Service
from tables_kit import fresh_tables

Name = Annotated[str, Field(min_length=1, max_length=50)]


class Team(Timestamped, Entity):
    name: Name


InTeam = Annotated[UUID, READ_ONLY, References(Team)]


class Part(Timestamped, Versioned, Entity):
    team_id: InTeam
    name: Name


class Needs(Timestamped, Entity):
    team_id: InTeam
    part_id: Annotated[UUID, References(Part)]
    needs_id: Annotated[UUID, References(Part), Unique("part_id")]


class PartStep(Entity):
    """A step of making a part: another part, at a position (an ordered link)."""

    team_id: InTeam
    part_id: Annotated[UUID, References(Part)]
    step_id: Annotated[UUID, References(Part)]
    position: Annotated[int, Unique("part_id")]


class Label(Timestamped, Entity):
    team_id: InTeam
    name: Annotated[str, StringConstraints(pattern="^[a-z]+$", max_length=20), Unique("team_id")]


class PartLabel(Entity):
    team_id: InTeam
    part_id: Annotated[UUID, References(Part)]
    label_id: Annotated[UUID, References(Label), Unique("part_id")]


class Drawing(Timestamped, Versioned, Entity):
    team_id: InTeam
    part_id: Annotated[UUID | None, References(Part, within="team_id")] = None
    title: Name = "untitled"


class Revision(Timestamped, Entity):
    """A part's revisions, numbered 1, 2, 3… per part."""

    team_id: InTeam
    part_id: Annotated[UUID, READ_ONLY, References(Part, within="team_id")]
    number: Annotated[int, READ_ONLY, Numbered("part_id"), Unique("part_id")] = 0


class LinkBase(EntityColumns, DeclarativeBase): ...


class TeamRow(LinkBase, entity=Team, tablename="t_links_teams"): ...


class PartRow(LinkBase, entity=Part, tablename="t_links_parts"): ...


class NeedsRow(LinkBase, entity=Needs, tablename="t_links_needs"): ...


class PartStepRow(LinkBase, entity=PartStep, tablename="t_links_part_steps"): ...


class LabelRow(LinkBase, entity=Label, tablename="t_links_labels"): ...


class PartLabelRow(LinkBase, entity=PartLabel, tablename="t_links_part_labels"): ...


class DrawingRow(LinkBase, entity=Drawing, tablename="t_links_drawings"): ...


class RevisionRow(LinkBase, entity=Revision, tablename="t_links_revisions"): ...


class Parts(Repository[Part, PartRow]):
    sortable = ("name",)


class Labels(Repository[Label, LabelRow]):
    filterable = ("name",)
    sortable = ("name",)


@dataclass(frozen=True)
class Member:
    id: UUID
    teams: tuple[UUID, ...] = ()
    reader: bool = False


class ReadersRead(Policy[Member, Any]):
    def allows(
        self, principal: Member, action: Action, entity: Any, changes: Mapping[str, Any]
    ) -> bool:
        return not principal.reader or action is Action.LIST


IN_MY_TEAMS = Filtered(lambda p: [where("team_id").in_(list(p.teams))])


class LabelService(Service[Label, Member]):
    repository = Labels
    scope = IN_MY_TEAMS
    policy = ReadersRead()


class PartService(Service[Part, Member]):
    repository = Parts
    scope = IN_MY_TEAMS
    policy = ReadersRead()
    needs = Links(repository_for(Needs), "part_id", "needs_id", acyclic=True, order_by=["name"])
    steps = Links(repository_for(PartStep), "part_id", "step_id", position="position")
    labels = Links(
        repository_for(PartLabel),
        "part_id",
        "label_id",
        to=LabelService,
        by="name",
        create=True,
        again_ok=True,
        order_by=["name"],
    )


class RevisionService(Service[Revision, Member]):
    scope = IN_MY_TEAMS


class DrawingService(Service[Drawing, Member]):
    scope = IN_MY_TEAMS
    policy = ReadersRead()


async def fresh_teams(db_url: str) -> AsyncIterator[Database]:
    """A database with empty team tables (for a fixture)."""
    async for database in fresh_tables(db_url, LinkBase.metadata):
        yield database


async def team_with_parts(db: Database, *names: str) -> tuple[Member, dict[str, Part]]:
    team = await repository_for(Team)(db).add(Team(name="t"))
    member = Member(uuid7(), (team.id,))
    service = PartService(db, member)
    return member, {n: await service.create({"team_id": team.id, "name": n}) for n in names}


MEMBERS: dict[UUID, Member] = {}


async def member_from_header(x_member: str = Header()) -> Member:
    return MEMBERS[UUID(x_member)]
