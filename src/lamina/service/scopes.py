"""Tenant scoping: the rows a principal may see, as filters every repository query carries.

A :class:`Scope` turns the current principal into repository ``scope=``
filters (for example "``workspace_id`` is one of the workspaces the user
belongs to"). The repository applies them to every read, count, page, update
and delete, so a use case cannot forget them; rows outside the scope behave as
if they did not exist (G10). The service also checks new and changed entities
against the same filters, so nothing can be created into, or moved to, a
tenant the principal does not belong to.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import ValidationError

from lamina.domain.entity import Entity
from lamina.persistence import (
    Database,
    Filter,
    Op,
    ReadOnlyRepository,
    Subquery,
    UnitOfWork,
    where,
)
from lamina.persistence.filters import TEXT_OPS
from lamina.persistence.mapping import EntityMapper

P = TypeVar("P")

Target = Database | UnitOfWork
"""What a scope may read to find the principal's tenants: the database or the current unit."""


def principal_id(principal: Any) -> Any:
    """The id of a principal: its ``user_id`` (lamina's ``Principal``), else its ``id``.

    The default key of :class:`OwnedBy`.
    """
    user_id = getattr(principal, "user_id", None)
    return user_id if user_id is not None else principal.id


class Scope(ABC, Generic[P]):
    """Which rows a principal may see, as repository filters. Subclass :meth:`filters`."""

    @abstractmethod
    async def filters(self, principal: P, target: Target) -> Sequence[Filter]:
        """The filters selecting the rows ``principal`` may see (read with ``target``)."""


class Unscoped(Scope[Any]):
    """Every row is visible to every principal (access is then up to the policy)."""

    async def filters(self, principal: Any, target: Target) -> Sequence[Filter]:
        return ()


class Filtered(Scope[P]):
    """The rows matching the filters ``make(principal)`` gives (the principal may be None)::

    PUBLISHED = where("status") == "published"
    scope = Filtered(lambda p: [any_of(PUBLISHED, where("owner_id") == p.user_id)]
                               if p else [PUBLISHED])
    """

    def __init__(self, make: Callable[[P], Sequence[Filter]]) -> None:
        self.make = make

    async def filters(self, principal: P, target: Target) -> Sequence[Filter]:
        return tuple(self.make(principal))


class OwnedBy(Scope[P]):
    """Rows whose ``field`` holds the principal's id (or ``key(principal)``)."""

    def __init__(self, field: str = "owner_id", key: Callable[[P], Any] = principal_id) -> None:
        self.field = field
        self.key = key

    async def filters(self, principal: P, target: Target) -> Sequence[Filter]:
        if principal is None:  # an anonymous caller owns nothing
            return (where(self.field).in_([]),)
        return (where(self.field) == self.key(principal),)


TenantIds = Callable[[P, Target], Awaitable[Iterable[Any]] | Subquery]
"""The tenants of a principal: their ids (read with the target), or a :class:`Subquery`."""


class MemberOf(Scope[P]):
    """Rows whose ``field`` is one of the tenants ``tenant_ids(principal, target)`` returns.

    ``tenant_ids`` usually reads a membership table. Best, it returns a
    :class:`~lamina.persistence.Subquery`: the tenants are then selected inside
    every statement the repository sends, and cost no query of their own::

        def my_workspaces(user: User, target: Target) -> Subquery:
            return Memberships.subquery("workspace_id", where("user_id") == user.id)

        conversations_scope = MemberOf("workspace_id", my_workspaces)
        workspaces_scope = MemberOf("id", my_workspaces)

    It may also be async and return the ids themselves (one query per
    repository a service builds, inside the same unit of work when there is
    one, so a tenant joined earlier in the transaction counts).
    """

    def __init__(self, field: str, tenant_ids: TenantIds[P]) -> None:
        self.field = field
        self.tenant_ids = tenant_ids

    async def filters(self, principal: P, target: Target) -> Sequence[Filter]:
        tenants = self.tenant_ids(principal, target)
        if isinstance(tenants, Subquery):
            return (where(self.field).in_(tenants),)
        return (where(self.field).in_(await tenants),)


class ParentService(Protocol):
    """What :class:`Within` uses of a parent's service class: its scopes and repository."""

    scope: ClassVar[Scope[Any]]
    write_scope: ClassVar[Scope[Any] | None]
    repository: ClassVar[type[ReadOnlyRepository[Any, Any]]]


class Within(Scope[P]):
    """Rows under a parent the principal sees through the parent's service (``field`` holds
    the parent's id); with ``write=True``, under a parent it may also change::

        class VideoService(Service[Video, User]):
            scope = Within("course_id", CourseService)  # the videos of courses I see
            write_scope = Within("course_id", CourseService, write=True)  # ... and may edit

    The parents are a :class:`~lamina.persistence.Subquery` inside each statement
    (no query of their own); a soft-deleted parent hides its children. ``key`` is the
    parent's field ``field`` holds (default its id): ``write_scope = Within("course_id",
    EnrollmentService, key="course_id")`` lets the principal write only in the courses
    of the enrollments it sees (its own).
    """

    def __init__(
        self, field: str, parent: type[ParentService], *, write: bool = False, key: str = "id"
    ) -> None:
        self.field = field
        self.parent = parent
        self.write = write
        self.key = key

    async def filters(self, principal: P, target: Target) -> Sequence[Filter]:
        parent = self.parent
        filters = [*await parent.scope.filters(principal, target)]
        if self.write and parent.write_scope is not None:
            filters += await parent.write_scope.filters(principal, target)
        return (where(self.field).in_(parent.repository.subquery(self.key, *filters)),)


_COMPARE: dict[Op, Callable[[Any, Any], bool]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.LT: operator.lt,
    Op.LE: operator.le,
    Op.GT: operator.gt,
    Op.GE: operator.ge,
}


def unmet_filter(
    entity: Entity,
    filters: Sequence[Filter],
    mapper: EntityMapper[Any],
    *,
    skip: Iterable[str] = (),
) -> Filter | None:
    """The first of ``filters`` that ``entity`` does not satisfy (evaluated in Python), or None.

    Filter values are coerced to the field's type first, as the repository
    does. Filters on fields named in ``skip`` are not checked. A filter on a
    :class:`Subquery` needs the database: ``Service.check_in_scope`` checks those.
    """
    skipped = frozenset(skip)
    for f in filters:
        if needs_database(f):
            raise TypeError(f"the filter on {f.field!r} is a subquery: check it in the database")
        if not f.fields <= skipped and not _satisfies(entity, f, mapper):
            return f
    return None


async def unmet_in_database(
    entity: Entity,
    filters: Sequence[Filter],
    target: Target,
    *,
    skip: Iterable[str] = (),
    mapper: EntityMapper[Any] | None = None,
) -> Filter | None:
    """The first of ``filters`` that ``entity`` does not satisfy, among those that need the
    database (on a :class:`Subquery`, or an ``any_of`` holding one), or None.

    One query per subquery, read with ``target``; filters that do not need the
    database are ignored (:func:`unmet_filter` checks those). ``mapper`` (the
    repository's) evaluates the other alternatives of an ``any_of``.
    """
    skipped = frozenset(skip)
    for f in filters:
        if not needs_database(f) or f.fields <= skipped:
            continue
        if not await _holds(entity, f, target, mapper):
            return f
    return None


async def unmet_scope(
    entity: Entity,
    filters: Sequence[Filter],
    mapper: EntityMapper[Any],
    target: Target,
    *,
    skip: Iterable[str] = (),
) -> Filter | None:
    """The first of ``filters`` ``entity`` does not satisfy: those on values checked in
    Python first, then those needing the database (one query each), or None."""
    plain = [f for f in filters if not needs_database(f)]
    unmet = unmet_filter(entity, plain, mapper, skip=skip)
    if unmet is None:
        unmet = await unmet_in_database(entity, filters, target, skip=skip, mapper=mapper)
    return unmet


def needs_database(f: Filter) -> bool:
    """Whether checking ``f`` against an entity needs a query (it holds a :class:`Subquery`)."""
    if f.op is Op.ANY:
        return any(needs_database(alternative) for alternative in f.value)
    return isinstance(f.value, Subquery)


async def _holds(
    entity: Entity, f: Filter, target: Target, mapper: EntityMapper[Any] | None
) -> bool:
    if f.op is Op.ANY:
        for alternative in f.value:
            if await _holds(entity, alternative, target, mapper):
                return True
        return False
    if not isinstance(f.value, Subquery):
        if mapper is None:
            raise TypeError("give mapper= to check filters on values inside any_of")
        return _satisfies(entity, f, mapper)
    value = _value_of(entity, f.field)
    inside = value is not None and await f.value.contains(target, value)
    return inside == (f.op is Op.IN)


def _value_of(entity: Entity, field: str) -> Any:
    """The value of ``field`` (``price.amount`` for a part of a value object), or None."""
    value: Any = entity
    for part in field.split("."):
        value = getattr(value, part, None) if value is not None else None
    return value


def _satisfies(entity: Entity, f: Filter, mapper: EntityMapper[Any]) -> bool:
    if f.op is Op.ANY:
        return any(_satisfies(entity, alternative, mapper) for alternative in f.value)
    value = _value_of(entity, f.field)
    if f.op is Op.IS_NULL:
        return (value is None) == bool(f.value)
    if f.op in (Op.IN, Op.NOT_IN):
        inside = any(value == _coerced(mapper, f.field, v) for v in f.value)
        return inside if f.op is Op.IN else not inside
    if value is None:
        return False
    if f.op in TEXT_OPS:
        text, part = str(value), str(f.value)
        if f.op is Op.ICONTAINS:
            return part.casefold() in text.casefold()
        return text.startswith(part) if f.op is Op.STARTSWITH else part in text
    try:
        return _COMPARE[f.op](value, _coerced(mapper, f.field, f.value))
    except TypeError:
        return False


def _coerced(mapper: EntityMapper[Any], field: str, value: Any) -> Any:
    try:
        return mapper.adapter(field).validate_python(value)
    except ValidationError:
        return value
