"""``Service``: the use cases of one entity type, for one principal, over a scoped repository."""

from __future__ import annotations

import builtins
import dataclasses
import functools
import re
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar, cast
from uuid import UUID

from pydantic import ValidationError

from lamina.domain.context import EventContext, use_context
from lamina.domain.editors_only import has_editors_only, hide_editors_only
from lamina.domain.entity import IMMUTABLE, SERVER_OWNED, Entity
from lamina.domain.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from lamina.domain.events import DomainEvent
from lamina.persistence import (
    AuditEntry,
    CursorPage,
    Database,
    Filter,
    Repository,
    UnitOfWork,
    history_page,
    repository_for,
    where,
)
from lamina.service.placement import check_references, number, place, references_within
from lamina.service.policy import Action, Policy
from lamina.service.scopes import OwnedBy, Scope, Target, Unscoped, principal_id, unmet_scope

E = TypeVar("E", bound=Entity)
P = TypeVar("P")
T = TypeVar("T")

Decision = Callable[[UnitOfWork, E], Awaitable[Mapping[str, Any]]]
"""What an action changes: given the unit of work and the entity as it is, the changes."""


def referent_name(field: str) -> str:
    """What a tenant field refers to, for errors: ``workspace_id`` → ``Workspace``."""
    words = field.rsplit(".", 1)[-1].removesuffix("_id").split("_")
    return "".join(w.capitalize() for w in words if w) or field


class _EntityRepository:
    """``Service.repository`` of a service that declares none: the entity's default one."""

    def __get__(self, instance: object, owner: type[Any]) -> type[Repository[Any, Any]]:
        entity = getattr(owner, "entity", None)
        if entity is None:
            raise TypeError(
                f"{owner.__name__} must declare a repository or subclass Service[Entity, Principal]"
            )
        return repository_for(entity)


class Service(Generic[E, P]):
    """The use cases of one entity type, run for one principal (made per request).

    Declare the scope (which rows the principal sees), the policy (what it may
    do with them) and, when the entity's default repository
    (:func:`~lamina.persistence.repository_for`: filters by id and references)
    is not enough, the repository::

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
    policy refuses raise :class:`~lamina.domain.PermissionDenied`.

    ``scope`` is what the principal *sees*; ``write_scope`` (default: the
    same) what it may *change*. A row it sees but may not change answers
    :class:`~lamina.domain.PermissionDenied` (403) to every write::

        class Courses(Service[Course, User]):
            repository = CourseRepository
            scope = PublishedOrMine()            # reads: published courses, and my own
            write_scope = OwnedBy("owner_id")    # writes: my own

    A service made for no principal (None: an anonymous caller, see
    ``Authenticator.optional_principal``) reads what its scope shows it, and
    every write raises :class:`~lamina.domain.Unauthenticated` (401) unless
    ``anonymous_writes`` says anonymous callers may write (a public form).

    Writes run in one unit of work each, with the ``before_*`` hooks (check
    rules, adjust values) and ``after_*`` hooks (publish events) inside it, so
    rows, audit entries and events commit together (G3), and an error raised
    anywhere in them writes nothing. :meth:`act` runs a custom use case (an
    action such as "publish") the same way. A service owns no SQL: use cases
    call repositories.
    """

    repository: ClassVar[type[Repository[Any, Any]]] = _EntityRepository()  # type: ignore[assignment]
    """The repository of the entity (default: :func:`~lamina.persistence.repository_for` the
    entity of ``Service[Entity, Principal]``)."""
    scope: ClassVar[Scope[Any]] = Unscoped()
    write_scope: ClassVar[Scope[Any] | None] = None
    """The rows the principal may change, among those it sees; None: all it sees."""
    anonymous_writes: ClassVar[bool] = False
    """Whether a service made for no principal (None) may write; else its writes are 401."""
    publishes: ClassVar[Mapping[str, type[DomainEvent]]] = {}
    """The event each use case publishes, by its name (``create``, ``update``, ``delete``,
    ``restore``, ``put_mine`` or an action's), made from the entity (after the change; as it
    was for a delete): each field of the event takes the entity's field of that name, and
    ``<entity>_id`` (``course_id`` for a ``Course``) its id; a field with a default the
    entity does not have keeps it::

        publishes = {"create": StudentEnrolled, "delete": StudentUnenrolled}

    An event that needs more is published by the ``after_*`` hook instead."""
    history_needs_write: ClassVar[bool] = False
    """Whether an entity's audit trail (:meth:`history_page`) is for those who may change it
    (its ``write_scope``: 403 for others who see it) rather than for all who see it."""
    owner_field: ClassVar[str | None] = None
    """The field a created entity gets the principal's id in (``principal_id``): its owner,
    author or instructor. Mark it ``READ_ONLY`` so no client sets it. Default: the field of an
    ``OwnedBy`` write scope or scope (a service of the principal's own rows)."""
    policy: ClassVar[Policy[Any, Any]] = Policy()
    entity: ClassVar[type[Entity]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in cls.__dict__.get("__orig_bases__", ()):
            origin, arguments = typing.get_origin(base), typing.get_args(base)
            entity = arguments[0] if arguments else None
            serves = isinstance(origin, type) and issubclass(origin, Service)
            if serves and isinstance(entity, type) and issubclass(entity, Entity):
                cls.entity = entity
        repository = cls.__dict__.get("repository")
        if repository is not None:
            cls.entity = repository.entity
        if cls.owner_field is None:  # a service of "my own rows" makes rows that are mine
            owned = [s for s in (cls.write_scope, cls.scope) if isinstance(s, OwnedBy)]
            if owned and owned[0].key is principal_id:
                cls.owner_field = owned[0].field
        if hasattr(cls, "entity"):
            for use_case, event in cls.publishes.items():
                sources = _event_sources(cls.entity)
                missing = [
                    f
                    for f, info in event.model_fields.items()
                    if info.is_required() and f not in sources
                ]
                if missing:
                    raise TypeError(
                        f"{cls.__name__}.publishes[{use_case!r}]: {event.__name__} has fields "
                        f"{sorted(missing)} that {cls.entity.__name__} does not have"
                    )

    def __init__(self, db: Database, principal: P) -> None:
        type(self).repository  # noqa: B018 (raises TypeError when there is none)
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
        skip = ("id",) if creating else ()
        mapper = self.repository.mapper()
        unmet = await unmet_scope(entity, filters, mapper, target or self.db, skip=skip)
        if unmet is not None:
            field = min(unmet.fields)
            value = getattr(entity, field.split(".")[0], None)
            raise NotFound(referent_name(field), value)

    def require_principal(self) -> None:
        """Raise :class:`Unauthenticated` when the service runs for an anonymous caller
        (unless ``anonymous_writes``)."""
        if self.principal is None and not self.anonymous_writes:
            raise Unauthenticated(f"sign in to change a {self.entity_name()}")

    async def check_writable(
        self, entity: E, action: Action | str, target: Target, *, creating: bool = False
    ) -> tuple[Filter, ...]:
        """Raise :class:`PermissionDenied` if ``entity`` is outside the ``write_scope``.

        Returns the write scope's filters (none without a ``write_scope``), for
        the repository that writes.
        """
        if self.write_scope is None:
            return ()
        filters = tuple(await self.write_scope.filters(self.principal, target))
        skip = ("id",) if creating else ()
        mapper = self.repository.mapper()
        if await unmet_scope(entity, filters, mapper, target, skip=skip) is not None:
            raise PermissionDenied(f"you may not {action} this {self.entity_name()}")
        return filters

    async def may_write(self, entity: E) -> bool:
        """Whether the principal may change ``entity`` (signed in unless ``anonymous_writes``,
        in the ``write_scope``, allowed by the policy): to show its editors more of it."""
        return entity.id in await self.editable([entity])

    async def editable(self, entities: Sequence[E]) -> set[UUID]:
        """The ids of those of ``entities`` the principal may change (one query at most)."""
        if not entities or (self.principal is None and not self.anonymous_writes):
            return set()
        ids = [e.id for e in entities]
        if self.write_scope is not None:
            write = await self.write_scope.filters(self.principal, self.db)
            scope = (*await self.scope_filters(), *write)
            repo = cast(Repository[E, Any], self.repository(self.db, scope=scope))
            ids = [e.id for e in await repo.get_many(ids)]
        by_id = {e.id: e for e in entities}
        allows = self.policy.allows
        return {i for i in ids if allows(self.principal, Action.UPDATE, by_id[i], {})}

    async def shown(self, entities: Sequence[E]) -> builtins.list[E]:
        """``entities`` as the principal may see them: a field marked
        :data:`~lamina.domain.EDITORS_ONLY` is None unless it may change the entity."""
        if not has_editors_only(self.entity):
            return list(entities)
        editable = await self.editable(entities)
        return [e if e.id in editable else hide_editors_only(e) for e in entities]

    async def for_write(
        self,
        uow: UnitOfWork,
        id: UUID,
        action: Action | str,
        changes: Mapping[str, Any] | None = None,
        *,
        include_deleted: bool = False,
        for_update: bool = False,
    ) -> tuple[Repository[E, Any], E]:
        """The entity a write concerns, and the repository to write it with.

        :class:`NotFound` if the principal does not see it, :class:`PermissionDenied`
        if it sees it but it is outside the ``write_scope`` or the policy
        refuses ``action`` (asked as ``UPDATE`` for a custom action).
        ``for_update`` holds the row until the unit ends (see ``Repository.get``).
        """
        self.require_principal()
        read = await self.scope_filters(uow)
        repo = cast(Repository[E, Any], self.repository(uow, scope=read))
        current = await repo.get(id, include_deleted=include_deleted, for_update=for_update)
        write = await self.check_writable(current, action, uow)
        asked = action if isinstance(action, Action) else Action.UPDATE
        await self.authorize(asked, current, changes)
        if write:
            repo = cast(Repository[E, Any], self.repository(uow, scope=(*read, *write)))
        return repo, current

    async def _check_moved(
        self, uow: UnitOfWork, repo: Repository[E, Any], current: E, changes: Mapping[str, Any]
    ) -> None:
        """A change of a scoped field may not move the entity out of either scope, nor a
        reference (``References(X, within=...)``) point outside where the entity is."""
        scoped_fields = {field.split(".")[0] for f in repo.scope for field in f.fields}
        if scoped_fields & changes.keys():
            changed = self._changed(current, changes)
            await self.check_in_scope(changed, await self.scope_filters(uow), target=uow)
            await self.check_writable(changed, Action.UPDATE, uow)
        within = references_within(self.entity)
        if any(f in changes or m.within in changes for f, m in within.items()):
            await check_references(uow, self._changed(current, changes))

    def new_entity(self, values: Mapping[str, Any]) -> E:
        """The entity a create makes from ``values`` (and the principal's id in ``owner_field``);
        override to derive fields (a slug…)."""
        if self.owner_field is not None and self.principal is not None:
            values = {**values, self.owner_field: principal_id(self.principal)}
        try:
            return cast(E, self.entity.model_validate(dict(values)))
        except ValidationError as exc:
            raise InvalidInput.from_validation_error(exc) from None

    async def run(self, use_case: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run ``use_case`` in a unit of work (retried on transient failures), for the
        principal: where no actor is in force (a script, a job, demo data rather than a
        request), the principal's id is the actor that actor columns, audit entries and
        events record."""
        context = EventContext.peek()
        actor = _actor_of(self.principal)
        if actor is None or (context is not None and context.actor_id is not None):
            return await self.db.run(use_case)
        with use_context((context or EventContext()).with_changes(actor_id=actor)):
            return await self.db.run(use_case)

    # ------------------------------------------------------------------ hooks (in the unit of work)
    #
    # ``before_*`` hooks run after the scope and policy checks, just before the
    # write: raise a domain error to refuse it (nothing is written), or return
    # adjusted values. ``after_*`` hooks run after it (publish events there).

    async def before_create(self, uow: UnitOfWork, entity: E) -> E:
        """Called before ``entity`` is added; return it, or an adjusted copy, or raise."""
        return entity

    async def before_update(
        self, uow: UnitOfWork, current: E, changes: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """Called before ``current`` is changed; return the changes (adjusted) or raise."""
        return changes

    async def before_delete(self, uow: UnitOfWork, entity: E) -> None:
        """Called before ``entity`` is deleted; raise to refuse."""

    async def before_restore(self, uow: UnitOfWork, entity: E) -> None:
        """Called before the soft-deleted ``entity`` is restored; raise to refuse."""

    async def before_action(
        self, uow: UnitOfWork, action: str, current: E, changes: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """Called by :meth:`act` before the action's changes are written; return them or raise."""
        return changes

    def announce(self, uow: UnitOfWork, use_case: str, entity: E) -> None:
        """Publish the event ``publishes`` names for ``use_case``, if any, made from ``entity``."""
        event = self.publishes.get(use_case)
        if event is not None:
            own_id = _id_field(self.entity)
            values = {
                f: entity.id if f == own_id else getattr(entity, f)
                for f in event.model_fields
                if f == own_id or f in type(entity).model_fields
            }
            uow.publish(event.model_validate(values))

    async def after_action(self, uow: UnitOfWork, action: str, before: E, after: E) -> None:
        """Called by :meth:`act` after the action's changes were written."""

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
        (entity,) = await self.shown([await (await self.scoped()).get(id)])
        return entity

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
        page = await repo.keyset_page(*filters, order_by=order_by, limit=limit, cursor=cursor)
        if has_editors_only(self.entity):
            return dataclasses.replace(page, items=await self.shown(page.items))
        return page

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

    async def history_page(
        self, id: UUID, *, limit: int = 50, cursor: str | None = None
    ) -> CursorPage[AuditEntry]:
        """A page of the audit entries of a visible (possibly soft-deleted) entity, oldest
        first, and the cursor of the next page (for its writers only when
        ``history_needs_write``)."""
        if self.history_needs_write:
            self.require_principal()
        repo = await self.scoped()
        entity = await repo.get(id, include_deleted=self.repository.has("deleted_at"))
        if self.history_needs_write:
            await self.check_writable(entity, "read the history of", self.db)
        return await history_page(
            self.db, self.repository.entity_name(), id, limit=limit, cursor=cursor
        )

    # ------------------------------------------------------------------ writes

    async def create(self, values: Mapping[str, Any]) -> E:
        """Make an entity from ``values`` (no server-owned fields) and add it.

        Raises :class:`NotFound` if it would fall outside the principal's
        scope, :class:`PermissionDenied` if the policy refuses it.
        """
        self._check_new_values(values)

        async def use_case(uow: UnitOfWork) -> E:
            repo, entity = await self._checked_new(uow, values)
            stored = await repo.add(entity)
            await self.after_create(uow, stored)
            self.announce(uow, "create", stored)
            return stored

        return await self.run(use_case)

    async def put_mine(self, values: Mapping[str, Any], *, key: Sequence[str]) -> E:
        """Create the caller's own entity from ``values``, or change the one they have with
        the same values of the ``key`` fields (the caller's progress through one video:
        ``key=("video_id",)``): an upsert on ``owner_field`` and ``key``, which a unique
        constraint must cover. Checked as a create is (scope, write scope, policy,
        ``before_create``); no version is asked, as the caller has one such entity at most.
        Publishes the event ``publishes["put_mine"]``, if any."""
        self._check_new_values(values)
        on = (self._owner(), *key)

        async def use_case(uow: UnitOfWork) -> E:
            repo, entity = await self._checked_new(uow, values)
            stored = await repo.upsert(entity, on=on)
            self.announce(uow, "put_mine", stored)
            return stored

        return await self.run(use_case)

    def _owner(self) -> str:
        """The ``owner_field``; TypeError for a service whose entities are nobody's."""
        if self.owner_field is None:
            raise TypeError(f"{type(self).__name__} has no owner_field: nothing is the caller's")
        return self.owner_field

    def _check_new_values(self, values: Mapping[str, Any]) -> None:
        self.require_principal()
        owned = self.entity.fields_marked(SERVER_OWNED) & values.keys()
        if owned:
            raise InvalidInput(
                "server-owned fields cannot be set",
                [FieldError(f, "set by the server") for f in sorted(owned)],
            )

    async def create_many(self, items: Sequence[Mapping[str, Any]], **common: Any) -> list[E]:
        """Make and add many entities in one unit of work, all or none: each is checked as
        :meth:`create` checks one (scope, write scope, policy, ``before_create``; what needs
        the database read once per place the items are in) and they are written in one round
        trip per batch (``Repository.add_many``). ``common`` are values every item gets (the
        parent's id): ``create_many(points, component_id=id)``."""
        for values in items:
            self._check_new_values(values)

        async def use_case(uow: UnitOfWork) -> list[E]:
            read = await self.scope_filters(uow)
            write: tuple[Filter, ...] = ()
            if self.write_scope is not None:
                write = tuple(await self.write_scope.filters(self.principal, uow))
            looked_at = self._fields_checked((*read, *write))
            checked: set[tuple[Any, ...]] = set()
            entities = []
            placed = await place(self.entity, uow, common) if common else common
            merged = [{**values, **placed} for values in items]
            for values in await number(self.repository, uow, merged):
                entity = self.new_entity(values)
                where_it_is = tuple(getattr(entity, f, None) for f in looked_at)
                if where_it_is not in checked:  # the reads once per place, not per item
                    await self.check_in_scope(entity, read, target=uow, creating=True)
                    await self.check_writable(entity, Action.CREATE, uow, creating=True)
                    await check_references(uow, entity)
                    checked.add(where_it_is)
                await self.authorize(Action.CREATE, entity)
                adjusted = await self.before_create(uow, entity)
                if adjusted is not entity:  # moved by the hook: checked where it is now
                    await self.check_in_scope(adjusted, read, target=uow, creating=True)
                    await self.check_writable(adjusted, Action.CREATE, uow, creating=True)
                entities.append(adjusted)
            repo = cast(Repository[E, Any], self.repository(uow, scope=(*read, *write)))
            stored = await repo.add_many(entities)
            for entity in stored:
                await self.after_create(uow, entity)
                self.announce(uow, "create", entity)
            return stored

        return await self.run(use_case)

    def _fields_checked(self, filters: Sequence[Filter]) -> list[str]:
        """The fields a create's checks read: those of the scopes' filters, and the bound
        references with their places."""
        looked_at = {field.split(".")[0] for f in filters for field in f.fields}
        for field, marker in references_within(self.entity).items():
            looked_at |= {field, cast(str, marker.within)}
        return sorted(looked_at)

    async def _checked_new(
        self, uow: UnitOfWork, values: Mapping[str, Any]
    ) -> tuple[Repository[E, Any], E]:
        """The entity made from ``values`` once scopes, policy and ``before_create`` passed,
        and the repository (with the scopes) to write it with."""
        read = await self.scope_filters(uow)
        [numbered] = await number(self.repository, uow, [await place(self.entity, uow, values)])
        entity = self.new_entity(numbered)
        await self.check_in_scope(entity, read, target=uow, creating=True)
        write = await self.check_writable(entity, Action.CREATE, uow, creating=True)
        await self.authorize(Action.CREATE, entity)
        adjusted = await self.before_create(uow, entity)
        if adjusted is not entity:
            await self.check_in_scope(adjusted, read, target=uow, creating=True)
            await self.check_writable(adjusted, Action.CREATE, uow, creating=True)
        await check_references(uow, adjusted)
        return cast(Repository[E, Any], self.repository(uow, scope=(*read, *write))), adjusted

    async def update(
        self, id: UUID, changes: Mapping[str, Any], *, expected_version: int | None = None
    ) -> E:
        """Change some fields of a visible entity.

        With ``expected_version``, a row that moved on raises
        :class:`~lamina.domain.VersionConflict` and nothing is written (G2).
        """
        changes = dict(changes)
        fixed = self.entity.fields_marked(IMMUTABLE) & changes.keys()
        if fixed:
            errors = [FieldError(f, "cannot be changed") for f in sorted(fixed)]
            raise InvalidInput("fields set when it was made cannot be changed", errors)

        async def use_case(uow: UnitOfWork) -> E:
            repo, current = await self.for_write(uow, id, Action.UPDATE, changes)
            final = await self.before_update(uow, current, changes)
            await self._check_moved(uow, repo, current, final)
            updated = await repo.update(id, final, expected_version=expected_version)
            await self.after_update(uow, current, updated)
            self.announce(uow, "update", updated)
            return updated

        return await self.run(use_case)

    async def delete(self, id: UUID, *, expected_version: int | None = None) -> None:
        """Delete a visible entity (soft if it can be restored)."""

        async def use_case(uow: UnitOfWork) -> None:
            repo, current = await self.for_write(uow, id, Action.DELETE)
            await self.before_delete(uow, current)
            await repo.delete(id, expected_version=expected_version)
            await self.after_delete(uow, current)
            self.announce(uow, "delete", current)

        await self.run(use_case)

    async def delete_mine(self, *filters: Filter) -> None:
        """Delete the caller's own live entity among those ``filters`` select (its
        ``owner_field`` holds the caller's id): an enrollment in one course is
        ``delete_mine(where("course_id") == course_id)``. A caller has at most one there, so
        no version is asked; :class:`NotFound` when they have none."""
        owner = self._owner()
        self.require_principal()
        mine = where(owner) == principal_id(self.principal)
        found = await (await self.scoped()).list(*filters, mine, limit=1)
        if not found:
            raise NotFound(self.entity_name(), message=f"you have no {self.entity_name()} here")
        await self.delete(found[0].id)

    async def restore(self, id: UUID, *, expected_version: int | None = None) -> E:
        """Bring back a soft-deleted entity of the scope; :class:`Conflict` if it is not deleted."""
        if not self.repository.has("deleted_at"):
            raise TypeError(f"{self.entity_name()} cannot be soft-deleted, so not restored")

        async def use_case(uow: UnitOfWork) -> E:
            repo, current = await self.for_write(uow, id, Action.RESTORE, include_deleted=True)
            if "deleted_at" in self.entity.model_fields:
                live = getattr(current, "deleted_at") is None  # noqa: B009 - optional field
            else:
                live = await repo.get_or_none(id) is not None
            if live:
                raise Conflict(f"{self.entity_name()} {id} is not deleted")
            await self.before_restore(uow, current)
            restored = await repo.restore(id, expected_version=expected_version)
            await self.after_restore(uow, restored)
            self.announce(uow, "restore", restored)
            return restored

        return await self.run(use_case)

    async def erase(self, id: UUID, *, expected_version: int | None = None) -> None:
        """Erase a visible (possibly soft-deleted) entity's data for good: the row, and the
        values in its audit entries (see ``Repository.erase``). The policy is asked for
        ``ERASE``; the ``write_scope`` applies."""

        async def use_case(uow: UnitOfWork) -> None:
            include_deleted = self.repository.has("deleted_at")
            repo, _ = await self.for_write(uow, id, Action.ERASE, include_deleted=include_deleted)
            await repo.erase(id, expected_version=expected_version)

        await self.run(use_case)

    async def act(
        self,
        id: UUID,
        action: str,
        decide: Decision[E],
        *,
        expected_version: int | None = None,
    ) -> E:
        """Run the custom use case ``action`` on a visible entity, in one unit of work.

        ``decide(uow, entity)`` sees the entity as it is and returns the changes
        (raise a domain error to refuse: nothing is written); then
        :meth:`before_action`, the update and :meth:`after_action` run::

            async def publish(self, id, *, expected_version=None) -> Course:
                async def publishing(uow, course):
                    if course.published_at is not None:
                        raise Conflict("this course is published already")
                    return {"published_at": utcnow()}

                return await self.act(id, "publish", publishing, expected_version=expected_version)

        The entity must be visible (else :class:`NotFound`) and writable (else
        :class:`PermissionDenied`: the ``write_scope``, and the policy asked
        for ``UPDATE``). Its row is held from the read to the commit, so
        concurrent actions on one entity take turns and each decides on what
        the one before wrote. With ``expected_version`` a row that moved on is
        a :class:`~lamina.domain.VersionConflict` and nothing is written (G2).
        """

        async def use_case(uow: UnitOfWork) -> E:
            repo, current = await self.for_write(uow, id, action, for_update=True)
            if expected_version is not None:
                repo.check_version(current, expected_version)
            changes = await decide(uow, current)
            changes = await self.before_action(uow, action, current, changes)
            await self._check_moved(uow, repo, current, changes)
            updated = await repo.update(id, changes)
            await self.after_action(uow, action, current, updated)
            self.announce(uow, action, updated)
            return updated

        return await self.run(use_case)

    def _changed(self, current: E, changes: Mapping[str, Any]) -> E:
        known = {k: v for k, v in changes.items() if k in self.entity.model_fields}
        try:
            return type(current).model_validate({**current.__dict__, **known})
        except ValidationError as exc:
            raise InvalidInput.from_validation_error(exc) from None


@functools.cache
def _id_field(entity: type[Entity]) -> str:
    """``course_id`` for ``Course``, ``tutor_chat_id`` for ``TutorChat``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", entity.__name__).lower() + "_id"


def _event_sources(entity: type[Entity]) -> set[str]:
    """The event fields an entity can fill: its own fields and its id as ``<entity>_id``."""
    return {*entity.model_fields, _id_field(entity)}


def _actor_of(principal: Any) -> UUID | None:
    """The principal's id as an actor (its ``user_id``, else its ``id``), or None."""
    actor = getattr(principal, "user_id", None) or getattr(principal, "id", None)
    return actor if isinstance(actor, UUID) else None
