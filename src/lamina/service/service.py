"""``Service``: the use cases of one entity type, for one principal, over a scoped repository."""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar, cast
from uuid import UUID

from pydantic import ValidationError

from lamina.domain.entity import SERVER_OWNED, Entity
from lamina.domain.errors import Conflict, FieldError, InvalidInput, NotFound, PermissionDenied
from lamina.persistence import (
    AuditEntry,
    CursorPage,
    Database,
    Filter,
    Repository,
    Subquery,
    UnitOfWork,
)
from lamina.service.policy import Action, Policy
from lamina.service.scopes import Scope, Target, Unscoped, unmet_filter, unmet_in_database

E = TypeVar("E", bound=Entity)
P = TypeVar("P")
T = TypeVar("T")


def referent_name(field: str) -> str:
    """What a tenant field refers to, for errors: ``workspace_id`` → ``Workspace``."""
    words = field.rsplit(".", 1)[-1].removesuffix("_id").split("_")
    return "".join(w.capitalize() for w in words if w) or field


class Service(Generic[E, P]):
    """The use cases of one entity type, run for one principal (made per request).

    Declare the repository, the scope (which rows the principal sees) and the
    policy (what it may do with them)::

        class Conversations(Service[Conversation, User]):
            repository = ConversationRepository
            scope = MemberOf("workspace_id", workspaces_of)
            policy = ConversationPolicy()

            async def after_create(self, uow, conversation):
                uow.publish(ConversationCreated(conversation_id=conversation.id))

    Every repository the service builds carries the scope's filters, so a row
    of another tenant is :class:`~lamina.domain.NotFound` for every read,
    count, page, update, delete and restore; creating or moving an entity
    outside the scope is refused the same way. Actions on visible rows the
    policy refuses raise :class:`~lamina.domain.PermissionDenied`. Writes run
    in one unit of work each, with the ``after_*`` hooks inside it, so rows,
    audit entries and events they add commit together (G3). A service owns no
    SQL: use cases call repositories.
    """

    repository: ClassVar[type[Repository[Any, Any]]]
    scope: ClassVar[Scope[Any]] = Unscoped()
    policy: ClassVar[Policy[Any, Any]] = Policy()
    entity: ClassVar[type[Entity]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        repository = cls.__dict__.get("repository")
        if repository is not None:
            cls.entity = repository.entity

    def __init__(self, db: Database, principal: P) -> None:
        if not hasattr(type(self), "repository"):
            raise TypeError(f"{type(self).__name__} must declare a repository")
        self.db = db
        self.principal = principal

    # ------------------------------------------------------------------ building blocks

    @classmethod
    def entity_name(cls) -> str:
        """The entity's name in errors."""
        return cls.repository.entity_name()

    async def scope_filters(self, target: Target | None = None) -> tuple[Filter, ...]:
        """The scope's filters for this principal, read through ``target`` (default: the db)."""
        return tuple(await self.scope.filters(self.principal, target or self.db))

    async def scoped(self, target: Target | None = None) -> Repository[E, Any]:
        """The repository bound to ``target`` (default: the database) with the scope applied."""
        target = target or self.db
        filters = await self.scope_filters(target)
        return cast(Repository[E, Any], self.repository(target, scope=filters))

    async def authorize(
        self, action: Action, entity: E | None = None, changes: Mapping[str, Any] | None = None
    ) -> None:
        """Raise :class:`PermissionDenied` unless the policy allows ``action``.

        Override to add rules that need the database (``await self.scoped(...)``).
        """
        if not self.policy.allows(self.principal, action, entity, changes or {}):
            raise PermissionDenied(f"you may not {action.value} this {self.entity_name()}")

    async def check_in_scope(
        self,
        entity: E,
        filters: Sequence[Filter],
        *,
        target: Target | None = None,
        creating: bool = False,
    ) -> None:
        """Raise :class:`NotFound` (of what the tenant field refers to) if ``entity`` is
        outside the scope: a create or update may not place a row in another tenant.

        Filters on values are checked in Python; those on a
        :class:`~lamina.persistence.Subquery` with one query each, read with
        ``target`` (default: the database).
        """
        mapper = self.repository.mapper()
        skip = ("id",) if creating else ()
        plain = [f for f in filters if not isinstance(f.value, Subquery)]
        unmet = unmet_filter(entity, plain, mapper, skip=skip)
        if unmet is None:
            unmet = await unmet_in_database(entity, filters, target or self.db, skip=skip)
        if unmet is not None:
            value = getattr(entity, unmet.field.split(".")[0], None)
            raise NotFound(referent_name(unmet.field), value)

    def new_entity(self, values: Mapping[str, Any]) -> E:
        """The entity a create makes from ``values``; override to derive fields (a slug…)."""
        try:
            return cast(E, self.entity.model_validate(dict(values)))
        except ValidationError as exc:
            raise InvalidInput.from_validation_error(exc) from None

    async def run(self, use_case: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run ``use_case`` in a unit of work (retried on transient failures)."""
        return await self.db.run(use_case)

    # ------------------------------------------------------------------ hooks (in the unit of work)

    async def after_create(self, uow: UnitOfWork, entity: E) -> None:
        """Called after ``entity`` was added, in the same unit of work (publish events here)."""

    async def after_update(self, uow: UnitOfWork, before: E, after: E) -> None:
        """Called after an update, in the same unit of work."""

    async def after_delete(self, uow: UnitOfWork, entity: E) -> None:
        """Called after ``entity`` (as it was) was deleted, in the same unit of work."""

    async def after_restore(self, uow: UnitOfWork, entity: E) -> None:
        """Called after ``entity`` was restored, in the same unit of work."""

    # ------------------------------------------------------------------ reads

    async def get(self, id: UUID) -> E:
        """The visible entity with this id; :class:`NotFound` if it is outside the scope."""
        return await (await self.scoped()).get(id)

    async def page(
        self,
        *filters: Filter,
        order_by: Sequence[str] = (),
        limit: int = 50,
        cursor: str | None = None,
    ) -> CursorPage[E]:
        """A keyset page of visible entities matching ``filters`` (declared fields only)."""
        await self.authorize(Action.LIST)
        repo = await self.scoped()
        return await repo.keyset_page(*filters, order_by=order_by, limit=limit, cursor=cursor)

    async def count(self, *filters: Filter) -> int:
        """How many visible entities match ``filters``."""
        await self.authorize(Action.LIST)
        return await (await self.scoped()).count(*filters)

    async def history(self, id: UUID) -> builtins.list[AuditEntry]:
        """The audit entries of a visible (possibly soft-deleted) entity, oldest first."""
        repo = await self.scoped()
        if self.repository.has("deleted_at"):
            await repo.get(id, include_deleted=True)
        else:
            await repo.get(id)
        return await repo.history(id)

    # ------------------------------------------------------------------ writes

    async def create(self, values: Mapping[str, Any]) -> E:
        """Make an entity from ``values`` (no server-owned fields) and add it.

        Raises :class:`NotFound` if it would fall outside the principal's
        scope, :class:`PermissionDenied` if the policy refuses it.
        """
        owned = self.entity.fields_marked(SERVER_OWNED) & values.keys()
        if owned:
            raise InvalidInput(
                "server-owned fields cannot be set",
                [FieldError(f, "set by the server") for f in sorted(owned)],
            )

        async def use_case(uow: UnitOfWork) -> E:
            repo = await self.scoped(uow)
            entity = self.new_entity(values)
            await self.check_in_scope(entity, repo.scope, target=uow, creating=True)
            await self.authorize(Action.CREATE, entity)
            stored = await repo.add(entity)
            await self.after_create(uow, stored)
            return stored

        return await self.run(use_case)

    async def update(
        self, id: UUID, changes: Mapping[str, Any], *, expected_version: int | None = None
    ) -> E:
        """Change some fields of a visible entity.

        With ``expected_version``, a row that moved on raises
        :class:`~lamina.domain.VersionConflict` and nothing is written (G2).
        """
        changes = dict(changes)

        async def use_case(uow: UnitOfWork) -> E:
            repo = await self.scoped(uow)
            filters = repo.scope
            current = await repo.get(id)
            await self.authorize(Action.UPDATE, current, changes)
            scoped_fields = {f.field.split(".")[0] for f in filters}
            if scoped_fields & changes.keys():
                await self.check_in_scope(self._changed(current, changes), filters, target=uow)
            updated = await repo.update(id, changes, expected_version=expected_version)
            await self.after_update(uow, current, updated)
            return updated

        return await self.run(use_case)

    async def delete(self, id: UUID, *, expected_version: int | None = None) -> None:
        """Delete a visible entity (soft if it can be restored)."""

        async def use_case(uow: UnitOfWork) -> None:
            repo = await self.scoped(uow)
            current = await repo.get(id)
            await self.authorize(Action.DELETE, current)
            await repo.delete(id, expected_version=expected_version)
            await self.after_delete(uow, current)

        await self.run(use_case)

    async def restore(self, id: UUID, *, expected_version: int | None = None) -> E:
        """Bring back a soft-deleted entity of the scope; :class:`Conflict` if it is not deleted."""
        if not self.repository.has("deleted_at"):
            raise TypeError(f"{self.entity_name()} cannot be soft-deleted, so not restored")

        async def use_case(uow: UnitOfWork) -> E:
            repo = await self.scoped(uow)
            current = await repo.get(id, include_deleted=True)
            if "deleted_at" in self.entity.model_fields:
                live = getattr(current, "deleted_at") is None  # noqa: B009 - optional field
            else:
                live = await repo.get_or_none(id) is not None
            if live:
                raise Conflict(f"{self.entity_name()} {id} is not deleted")
            await self.authorize(Action.RESTORE, current)
            restored = await repo.restore(id, expected_version=expected_version)
            await self.after_restore(uow, restored)
            return restored

        return await self.run(use_case)

    def _changed(self, current: E, changes: Mapping[str, Any]) -> E:
        known = {k: v for k, v in changes.items() if k in self.entity.model_fields}
        try:
            return type(current).model_validate({**current.__dict__, **known})
        except ValidationError as exc:
            raise InvalidInput.from_validation_error(exc) from None
