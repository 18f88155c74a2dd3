"""Who belongs where: the workspaces and conversations a user may see, and the user's role.

These are the tenant lookups the services' scopes are built from
(``MemberOf("workspace_id", workspace_ids)``...). Each reads through the given
target, so inside a unit of work it sees what the unit wrote earlier.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from examples.chat.domain import Membership, ParticipantStatus, Role
from examples.chat.repositories import Memberships, Participants, Workspaces
from lamina.persistence import where
from lamina.service import Target


class Actor(Protocol):
    """Whoever a use case runs for: lamina's ``Principal`` (from a token) or the demo loader."""

    @property
    def user_id(self) -> UUID: ...


BELONGING = (ParticipantStatus.INVITED, ParticipantStatus.ACTIVE)
"""Participant statuses that make a conversation visible to its user."""


async def workspace_ids(principal: Actor, target: Target) -> list[UUID]:
    """The live workspaces ``principal`` is a member of."""
    memberships = await Memberships(target).list(where("user_id") == principal.user_id)
    ids = [m.workspace_id for m in memberships]
    return [w.id for w in await Workspaces(target).get_many(ids)] if ids else []


async def _conversation_ids(
    principal: Actor, target: Target, statuses: tuple[ParticipantStatus, ...]
) -> list[UUID]:
    workspaces = await workspace_ids(principal, target)
    if not workspaces:
        return []
    participations = await Participants(target).list(
        where("user_id") == principal.user_id,
        where("status").in_(statuses),
        where("workspace_id").in_(workspaces),
    )
    return [p.conversation_id for p in participations]


async def visible_conversation_ids(principal: Actor, target: Target) -> list[UUID]:
    """Conversations ``principal`` is invited to or takes part in, in its live workspaces."""
    return await _conversation_ids(principal, target, BELONGING)


async def joined_conversation_ids(principal: Actor, target: Target) -> list[UUID]:
    """Conversations ``principal`` actively takes part in (may read, post and record)."""
    return await _conversation_ids(principal, target, (ParticipantStatus.ACTIVE,))


async def membership_of(user_id: UUID, workspace_id: UUID, target: Target) -> Membership | None:
    """The membership of ``user_id`` in ``workspace_id``, or None."""
    found = await Memberships(target).list(
        where("user_id") == user_id, where("workspace_id") == workspace_id, limit=1
    )
    return found[0] if found else None


async def role_in(principal: Actor, workspace_id: UUID, target: Target) -> Role | None:
    """The role of ``principal`` in ``workspace_id``, or None when not a member."""
    membership = await membership_of(principal.user_id, workspace_id, target)
    return membership.role if membership else None


MANAGERS = (Role.OWNER, Role.ADMIN)
"""Roles that may manage a workspace and its members."""
