"""Workspaces and their members: who owns, who manages, who belongs.

A workspace is visible to its members only (others get 404). Its creator
becomes its owner, in the same unit of work. Owners and admins change it and
manage its members; only the owner deletes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from examples.chat.domain import (
    MemberAdded,
    MemberRemoved,
    Membership,
    Role,
    User,
    Workspace,
    WorkspaceCreated,
    WorkspaceDeleted,
    WorkspaceUpdated,
)
from examples.chat.repositories import Memberships, Users, Workspaces
from examples.chat.services.access import MANAGERS, Actor, member_workspaces, membership_of
from examples.chat.services.changes import changed_fields
from lamina.domain import AlreadyExists, Conflict, NotFound, PermissionDenied, ReferenceMissing
from lamina.persistence import CursorPage, Filter, UnitOfWork, where
from lamina.service import Action, MemberOf, Service, Target


class Member(BaseModel):
    """A member of a workspace: the membership and the user's names."""

    id: UUID
    workspace_id: UUID
    user_id: UUID
    username: str
    display_name: str
    role: Role
    version: int
    created_at: datetime

    @classmethod
    def of(cls, membership: Membership, user: User) -> Member:
        """The member ``membership`` makes ``user``."""
        return cls(
            **membership.model_dump(include=set(cls.model_fields)),
            username=user.username,
            display_name=user.display_name,
        )


async def require_manager(actor: Actor, workspace_id: UUID, target: Target) -> Membership:
    """The actor's membership if it owns or administers the live workspace.

    Raises NotFound when the actor cannot see the workspace, PermissionDenied
    when it can but is a plain member.
    """
    membership = await membership_of(actor.user_id, workspace_id, target)
    if membership is None or not await Workspaces(target).exists(where("id") == workspace_id):
        raise NotFound("Workspace", workspace_id)
    if membership.role not in MANAGERS:
        raise PermissionDenied("only the owner or an admin may manage this workspace")
    return membership


class WorkspaceService(Service[Workspace, Actor]):
    """Create, read, change and delete the workspaces the actor belongs to."""

    repository = Workspaces
    scope = MemberOf("id", member_workspaces)
    publishes = {"create": WorkspaceCreated, "delete": WorkspaceDeleted}

    def new_entity(self, values: Mapping[str, Any]) -> Workspace:
        return super().new_entity({**values, "owner_id": self.principal.user_id})

    async def authorize(
        self,
        action: Action,
        entity: Workspace | None = None,
        changes: Mapping[str, Any] | None = None,
    ) -> None:
        if entity is None or action in (Action.LIST, Action.CREATE):
            return
        membership = await membership_of(self.principal.user_id, entity.id, self.db)
        role = membership.role if membership else None
        if action is Action.DELETE and role is not Role.OWNER:
            raise PermissionDenied("only the owner may delete this workspace")
        if role not in MANAGERS:
            raise PermissionDenied("only the owner or an admin may change this workspace")

    async def after_create(self, uow: UnitOfWork, entity: Workspace) -> None:
        owner = Membership(workspace_id=entity.id, user_id=entity.owner_id, role=Role.OWNER)
        await Memberships(uow).add(owner)

    async def after_update(self, uow: UnitOfWork, before: Workspace, after: Workspace) -> None:
        changes = changed_fields(before, after)
        if changes:
            uow.publish(WorkspaceUpdated(workspace_id=after.id, changes=changes))


class MemberService(Service[Membership, Actor]):
    """The members of the workspaces the actor belongs to; owners and admins manage them."""

    repository = Memberships
    scope = MemberOf("workspace_id", member_workspaces)

    async def members(
        self,
        workspace_id: UUID,
        *filters: Filter,
        order_by: Sequence[str] = (),
        limit: int = 50,
        cursor: str | None = None,
    ) -> CursorPage[Member]:
        """A page of the members of a workspace the actor belongs to, with their names."""
        page = await self.page(
            *filters,
            where("workspace_id") == workspace_id,
            order_by=order_by,
            limit=limit,
            cursor=cursor,
        )
        return CursorPage(await self._named(page.items), page.next_cursor)

    async def add(self, workspace_id: UUID, username: str, role: Role) -> Member:
        """Make the user called ``username`` a member (409 if it already is one)."""

        async def use_case(uow: UnitOfWork) -> Member:
            await require_manager(self.principal, workspace_id, uow)  # authorize, then validate
            if role is Role.OWNER:
                raise Conflict("a workspace has exactly one owner; add members as admin or member")
            user = await Users(uow).by_username(username)
            if user is None:
                raise ReferenceMissing("Membership", ["username"], f"no user is called {username}")
            if await membership_of(user.id, workspace_id, uow) is not None:
                raise AlreadyExists("Membership", ["username"], f"{username} is already a member")
            added = await Memberships(uow).add(
                Membership(workspace_id=workspace_id, user_id=user.id, role=role)
            )
            uow.publish(MemberAdded(workspace_id=workspace_id, user_id=user.id, role=role))
            return Member.of(added, user)

        return await self.run(use_case)

    async def remove(self, workspace_id: UUID, user_id: UUID, *, expected_version: int) -> None:
        """End the membership of ``user_id`` (the owner cannot be removed)."""

        async def use_case(uow: UnitOfWork) -> None:
            await require_manager(self.principal, workspace_id, uow)
            membership = await membership_of(user_id, workspace_id, uow)
            if membership is None:
                raise NotFound("Membership", user_id)
            if membership.role is Role.OWNER:
                raise Conflict("the owner of a workspace cannot be removed from it")
            await Memberships(uow).delete(membership.id, expected_version=expected_version)
            uow.publish(MemberRemoved(workspace_id=workspace_id, user_id=user_id))

        await self.run(use_case)

    async def _named(self, memberships: Sequence[Membership]) -> list[Member]:
        """``memberships`` with their users' names (one query)."""
        users = {u.id: u for u in await Users(self.db).get_many([m.user_id for m in memberships])}
        return [Member.of(m, users[m.user_id]) for m in memberships]

    async def members_of_owned_workspaces(self) -> set[UUID]:
        """Every member of the live workspaces the actor owns (the actor included).

        Raises PermissionDenied when the actor owns none.
        """
        mine = await Memberships(self.db).list(
            where("user_id") == self.principal.user_id, where("role") == Role.OWNER
        )
        owned = [w.id for w in await Workspaces(self.db).get_many([m.workspace_id for m in mine])]
        if not owned:
            raise PermissionDenied("only workspace owners may see the stream statistics")
        members = await Memberships(self.db).list(where("workspace_id").in_(owned))
        return {m.user_id for m in members}
