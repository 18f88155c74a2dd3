"""``Members``: who belongs to which group (a project, a workspace), with which role.

Most business apps keep the same table: a membership holding a group's id, a user's id and a
role. ``Members`` reads it as the scopes services need::

    members = Members(Memberships, "project_id")            # its user_id and role fields

    class ProjectService(Service[Project, User]):
        scope = members.scope("id")                         # the projects I belong to
        write_scope = members.scope("id", "owner")          # those I own

        async def after_create(self, uow, project):         # its creator owns it
            await members.join(uow, project.id, self.principal, "owner")

    EDITOR = members.scope("project_id", "owner", "editor")  # rows of projects I edit

Each scope selects the groups inside the statements its repositories send (a subquery: no
query of its own). A role the membership's ``role`` field does not allow is a ``ValueError``
when the scope is made, so a misspelt role fails at import rather than hiding rows.
"""

from __future__ import annotations

import typing
from typing import Any
from uuid import UUID

from lamina.domain.choices import allowed_strings
from lamina.domain.entity import Entity
from lamina.persistence import Repository, Subquery, where
from lamina.service.scopes import MemberOf, Target, principal_id


class Members:
    """The memberships in ``repository``: ``group`` holds the group's id, ``user`` the
    member's (a principal's ``user_id``, else its ``id``), ``role`` the role (a ``Literal`` or
    ``StrEnum`` field; None: members without roles)."""

    def __init__(
        self,
        repository: type[Repository[Any, Any]],
        group: str,
        *,
        user: str = "user_id",
        role: str | None = "role",
    ) -> None:
        fields = repository.entity.model_fields
        missing = [f for f in (group, user, role) if f is not None and f not in fields]
        if missing:
            entity = repository.entity.__name__
            raise TypeError(f"Members: {entity} has no field {missing[0]!r}")
        self.repository = repository
        self.group = group
        self.user = user
        self.role = role
        self.roles = allowed_strings(fields[role].annotation) if role is not None else []

    def groups(self, principal: Any, *roles: str) -> Subquery:
        """The ids of the groups ``principal`` belongs to (with one of ``roles``, if given)."""
        filters = [where(self.user) == principal_id(principal)]
        if roles:
            filters.append(where(self._role(roles)).in_(list(roles)))
        return self.repository.subquery(self.group, *filters)

    def scope(self, field: str, *roles: str) -> MemberOf[Any]:
        """The rows whose ``field`` is a group the principal belongs to (with one of
        ``roles``: a service's ``scope`` or ``write_scope``)."""
        if roles:
            self._role(roles)  # a role that cannot be fails now, not at the first request

        def groups(principal: Any, target: Target) -> Subquery:
            return self.groups(principal, *roles)

        return MemberOf(field, groups)

    async def join(self, target: Target, group_id: UUID, who: Any, role: str | None = None) -> Any:
        """Make ``who`` (a principal or a user id) a member of the group, with ``role``;
        inside a unit of work, in its transaction (the creator of a project becomes its
        owner in ``after_create``)."""
        user_id = who if isinstance(who, UUID) else principal_id(who)
        values: dict[str, Any] = {self.group: group_id, self.user: user_id}
        if role is not None:
            values[self._role([role])] = role
        membership: Entity = self.repository.entity(**values)
        return await self.repository(target).add(membership)

    def _role(self, roles: typing.Collection[str]) -> str:
        """The role field, once ``roles`` are found to be roles it allows."""
        if self.role is None:
            raise ValueError("these members have no roles")
        unknown = [r for r in roles if self.roles and r not in self.roles]
        if unknown:
            raise ValueError(f"no role {unknown[0]!r}: {self.role} is one of {self.roles}")
        return self.role
