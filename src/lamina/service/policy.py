"""Access policies: which actions a principal may take on the rows it can see.

What a principal can *see* is its :class:`~lamina.service.Scope` (rows outside
it do not exist for it: :class:`~lamina.domain.NotFound`). A policy decides,
among the visible rows, what it may *do*; a refusal is
:class:`~lamina.domain.PermissionDenied`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

P = TypeVar("P")
E = TypeVar("E")


class Action(enum.StrEnum):
    """What a principal asks to do.

    ``LIST`` is asked once per list or count, without an entity; the others
    name the entity concerned (the new one for ``CREATE``).
    """

    LIST = "list"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    RESTORE = "restore"
    ERASE = "erase"


class Policy(Generic[P, E]):
    """Who may do what; this base class allows every action on every visible row.

    Subclass and override :meth:`allows`::

        class OnlyAuthorEdits(Policy[User, Message]):
            def allows(self, principal, action, entity, changes):
                return action in (Action.LIST, Action.CREATE) or entity.sender_id == principal.id

    A rule that needs the database belongs in the service: override
    :meth:`Service.authorize <lamina.service.Service.authorize>`.
    """

    def allows(
        self, principal: P, action: Action, entity: E | None, changes: Mapping[str, Any]
    ) -> bool:
        """True if ``principal`` may take ``action`` on ``entity`` (``changes``: of an update)."""
        return True
