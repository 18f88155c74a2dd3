"""Who belongs where: the workspaces and conversations a user may see, and the user's role.

The tenants are :class:`~lamina.persistence.Subquery` values: a service's scope
(``MemberOf("workspace_id", member_workspaces)``) puts them inside every
statement its repositories send, so "the conversations I take part in, in the
live workspaces I belong to" costs no query of its own. ``contains`` asks one
of them about one id, read through the given target (inside a unit of work it
sees what the unit wrote earlier).
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from examples.chat.domain import Conversation, Membership, ParticipantStatus, Role
from examples.chat.repositories import Conversations, Memberships, Participants, Workspaces
from lamina.persistence import Subquery, UnitOfWork, where
from lamina.service import Target


class Actor(Protocol):
    """Whoever a use case runs for: lamina's ``Principal`` (from a token) or the demo loader."""

    @property
    def user_id(self) -> UUID: ...


BELONGING = (ParticipantStatus.INVITED, ParticipantStatus.ACTIVE)
"""Participant statuses that make a conversation visible to its user."""


def member_workspaces(principal: Actor, target: Target | None = None) -> Subquery:
    """The live workspaces ``principal`` is a member of."""
    return Memberships.subquery(
        "workspace_id",
        where("user_id") == principal.user_id,
        where("workspace_id").in_(Workspaces.subquery("id")),
    )


def _conversations(principal: Actor, statuses: tuple[ParticipantStatus, ...]) -> Subquery:
    return Participants.subquery(
        "conversation_id",
        where("user_id") == principal.user_id,
        where("status").in_(statuses),
        where("workspace_id").in_(member_workspaces(principal)),
    )


def visible_conversations(principal: Actor, target: Target | None = None) -> Subquery:
    """Conversations ``principal`` is invited to or takes part in, in its live workspaces."""
    return _conversations(principal, BELONGING)


def joined_conversations(principal: Actor, target: Target | None = None) -> Subquery:
    """Conversations ``principal`` actively takes part in (may read, post and record)."""
    return _conversations(principal, (ParticipantStatus.ACTIVE,))


async def joined_conversation(principal: Actor, uow: UnitOfWork, id: UUID) -> Conversation:
    """The live conversation ``id`` if ``principal`` takes part in it, else NotFound (one query).

    Held until ``uow`` ends (``for_share``), so what the use case adds to it
    (a message, a recording) cannot land in a conversation deleted meanwhile.
    """
    joined = Conversations(uow, scope=[where("id").in_(joined_conversations(principal))])
    return await joined.get(id, for_share=True)


async def visible_conversation(principal: Actor, uow: UnitOfWork, id: UUID) -> Conversation:
    """The live conversation ``id`` if ``principal`` is invited or takes part, held like
    :func:`joined_conversation`; else NotFound."""
    visible = Conversations(uow, scope=[where("id").in_(visible_conversations(principal))])
    return await visible.get(id, for_share=True)


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
