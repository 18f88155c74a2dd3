"""``Links``: a many-to-many link from a service's items to other entities, one row per pair.

Tags on a job, dependencies between components, a course's prerequisites: each is a link
entity holding two ids, and the same three use cases over it. Declare the link on the
service of the items it starts from::

    class ComponentService(Service[Component, User]):
        dependencies = Links(Dependencies, "component_id", "depends_on_id", acyclic=True)

    class JobService(Service[Job, User]):
        tags = Links(JobTags, "job_id", "tag_id", to=TagService, by="name", create=True)

and ``service.dependencies.add(id, other_id)``, ``.remove(id, other_id)``,
``.replace(id, [other_ids])`` and ``.linked(id, transitive=True)`` run them for the service's
principal; an ordered link (``position="position"``: a job's steps) keeps its ends in order;
``ResourceAction.links(ComponentService, "dependencies")`` mounts them as
``POST|DELETE /components/{id}/dependencies/{other_id}`` and ``GET
/components/{id}/dependencies``.

Adding or removing a link is a change of the item: the service's write scope and policy
decide it (403 for a reader, 404 for who does not see the item), in one unit of work. The
other end is found through its own service's scope (``to``, default this service): one the
caller does not see is a 404. The link entity's other references (a ``project_id``) are
where the link lives: both ends must have the same value there (another is a 404, as
though it did not exist), and the link is made with it.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

from pydantic import TypeAdapter, ValidationError

from lamina.domain.entity import Entity
from lamina.domain.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from lamina.persistence import Filter, Repository, UnitOfWork, path_between, reachable, where

if TYPE_CHECKING:
    from lamina.service.service import Service


class Links:
    """A link from the items of the service declaring it to other entities (see the module).

    ``repository`` is the link entity's; ``source`` its field holding the item's id and
    ``target`` the other end's. ``to`` is the service the other ends are found through
    (default: the declaring service, a self-referential link). ``by`` is the field of the
    other end the caller names it by (default ``id``; a tag's ``name``), and with ``create``
    an end of that name is made when there is none (a create of ``to``: its write scope,
    policy and ``before_create`` apply). ``acyclic`` refuses a link that would close a cycle
    (409 naming it), with adds serialized where the link lives. Adding a link already there
    is a 409, or nothing with ``again_ok``. ``order_by`` sorts what :meth:`linked` answers
    (default: the other end's repository's order). ``position`` names the link's field that
    orders the ends (1, 2, 3…; an end may then come more than once): :meth:`add` appends,
    :meth:`replace` sets the whole list, and :meth:`linked` answers in that order.
    """

    def __init__(
        self,
        repository: type[Repository[Any, Any]],
        source: str,
        target: str,
        *,
        to: type[Service[Any, Any]] | None = None,
        by: str = "id",
        create: bool = False,
        acyclic: bool = False,
        again_ok: bool = False,
        order_by: Sequence[str] = (),
        position: str | None = None,
    ) -> None:
        fields = repository.entity.model_fields
        missing = [f for f in (source, target, position or source) if f not in fields]
        if missing:
            raise TypeError(f"Links: {repository.entity.__name__} has no field {missing[0]!r}")
        if create and by == "id":
            raise TypeError("Links(create=True) needs `by`: the field a new end is made with")
        self.repository = repository
        self.source = source
        self.target = target
        self.to = to
        self.by = by
        self.create = create
        self.acyclic = acyclic
        self.again_ok = again_ok
        self.order_by = tuple(order_by)
        self.position = position
        self.name = ""
        self.owner: type[Service[Any, Any]] | None = None

    def __set_name__(self, owner: type[Service[Any, Any]], name: str) -> None:
        self.name = name
        self.owner = owner

    @typing.overload
    def __get__(self, service: None, owner: type) -> Links: ...
    @typing.overload
    def __get__(self, service: Service[Any, Any], owner: type) -> BoundLinks: ...
    def __get__(self, service: Service[Any, Any] | None, owner: type) -> Links | BoundLinks:
        if self.acyclic and not self.self_referential:  # known once the service class is made
            raise TypeError(f"{owner.__name__}.{self.name}: only a link between alike is acyclic")
        return self if service is None else BoundLinks(self, service)

    @property
    def self_referential(self) -> bool:
        """Whether both ends are items of the declaring service's entity."""
        return self.to is None or (self.owner is not None and self.to.entity is self.owner.entity)

    @property
    def by_type(self) -> Any:
        """The type of what names the other end (a UUID, or the ``by`` field's)."""
        if self.by == "id":
            return UUID
        info = self._far_class().entity.model_fields[self.by]  # with its constraints
        return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation

    def _far_class(self) -> type[Service[Any, Any]]:
        if self.to is not None:
            return self.to
        if self.owner is None:
            raise TypeError("Links must be declared on a Service class")
        return self.owner

    def _far(self, service: Service[Any, Any]) -> Service[Any, Any]:
        far = self._far_class()
        return service if isinstance(service, far) else far(service.db, service.principal)

    def _shared(self, item: Entity) -> dict[str, Any]:
        """The link's other references, as the item has them (where the link lives)."""
        ends = {self.source, self.target}
        return {
            field: getattr(item, field)
            for field in self.repository.entity.references()
            if field not in ends and field in type(item).model_fields
        }

    async def _ends(
        self, uow: UnitOfWork, service: Service[Any, Any], named: Sequence[Any], item: Entity
    ) -> list[Any]:
        """The other ends ``named`` (ids, or ``by`` values) where the item lives, in that order
        (those missing made if ``create`` says so; else the first is a :class:`NotFound`)."""
        far = self._far(service)
        shared = self._shared(item)
        seen = await far.scoped(uow)
        named = [self._checked(name) for name in named]
        wanted = list(dict.fromkeys(named))
        found = await seen.list(where(self.by).in_(wanted), *_equal(shared)) if wanted else []
        by_name = {getattr(end, self.by): end for end in found}
        for name in wanted:
            if name in by_name:
                continue
            if not self.create:
                raise NotFound(far.entity_name(), name)
            repo, entity = await far._checked_new(uow, {**shared, self.by: name})
            by_name[name] = await repo.add(entity)
            await far.after_create(uow, by_name[name])
        return [by_name[name] for name in named]

    @functools.cached_property
    def _by_adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.by_type)

    def _checked(self, name: Any) -> Any:
        """``name`` as the ``by`` field has it (``"Nightly"`` is the tag ``nightly``), or an
        :class:`InvalidInput` when the field refuses it."""
        try:
            return self._by_adapter.validate_python(name)
        except ValidationError as exc:
            raise InvalidInput.from_validation_error(exc) from None

    async def _next_position(self, links: Repository[Any, Any], id: UUID) -> int:
        """The position after the item's last link (0 for an unordered link: unused)."""
        if self.position is None:
            return 0
        taken = [
            getattr(link, self.position) for link in await links.list(where(self.source) == id)
        ]
        return max(taken, default=0) + 1

    def _link(self, item: Entity, end: Any, position: int) -> Any:
        values = {**self._shared(item), self.source: item.id, self.target: end.id}
        if self.position is not None:
            values[self.position] = position
        return self.repository.entity(**values)

    async def add(self, service: Service[Any, Any], id: UUID, other: Any) -> None:
        """Link the item ``id`` to ``other`` (see the class); an ordered link appends it."""

        async def use_case(uow: UnitOfWork) -> None:
            _, item = await service.for_write(uow, id, f"change the {self.name} of")
            if self.acyclic:
                await uow.serialize(self.repository.table().name, *self._shared(item).values())
            [end] = await self._ends(uow, service, [other], item)
            links = self.repository(uow)
            pair = (where(self.source) == id, where(self.target) == end.id)
            if self.position is None and await links.exists(*pair):
                if self.again_ok:
                    return
                raise AlreadyExists(self.repository.entity_name(), [self.source, self.target])
            if self.acyclic:
                await self._refuse_cycle(uow, service, links, id, end.id)
            await links.add(self._link(item, end, await self._next_position(links, id)))

        await service.run(use_case)

    async def replace(
        self,
        service: Service[Any, Any],
        id: UUID,
        others: Sequence[Any],
        *,
        expected_version: int | None = None,
    ) -> None:
        """Make ``others`` the item's whole list of links (in that order, for an ordered
        link), with ``expected_version`` of the item checked (G2) and the item held until
        the change commits."""

        async def use_case(uow: UnitOfWork) -> None:
            repo, item = await service.for_write(
                uow, id, f"change the {self.name} of", for_update=True
            )
            repo.check_version(item, expected_version)
            if self.acyclic:
                await uow.serialize(self.repository.table().name, *self._shared(item).values())
            ends = await self._ends(uow, service, others, item)
            if self.position is None:
                ends = list({end.id: end for end in ends}.values())
            links = self.repository(uow)
            for link in await links.list(where(self.source) == id):
                await links.delete(link.id)
            made = [self._link(item, end, n) for n, end in enumerate(ends, 1)]
            if not self.acyclic:
                await links.add_many(made)
            for link, end in zip(made if self.acyclic else (), ends, strict=False):
                await self._refuse_cycle(uow, service, links, id, end.id)
                await links.add(link)

        await service.run(use_case)

    async def _refuse_cycle(
        self, uow: UnitOfWork, service: Service[Any, Any], links: Any, id: UUID, other: UUID
    ) -> None:
        cycle = await path_between(links, other, id, source=self.source, target=self.target)
        if cycle is None:
            return
        items = {e.id: e for e in await service.repository(uow).get_many(cycle)}
        names = [str(getattr(items.get(i), "name", i)) for i in [id, *cycle]]
        raise Conflict(f"this link of {self.name} would close a cycle: {' → '.join(names)}")

    async def remove(self, service: Service[Any, Any], id: UUID, other: Any) -> None:
        """Unlink the item ``id`` from ``other``: a 404 when they are not linked."""

        async def use_case(uow: UnitOfWork) -> None:
            _, item = await service.for_write(uow, id, f"change the {self.name} of")
            end_id = other
            if self.by != "id":
                far = await self._far(service).scoped(uow)
                named = await far.list(
                    where(self.by) == self._checked(other), *_equal(self._shared(item))
                )
                end_id = named[0].id if named else None
            links = self.repository(uow)
            pair = (where(self.source) == id, where(self.target) == end_id)
            found = await links.list(*pair) if end_id is not None else []
            if not found:
                raise NotFound(self.repository.entity_name(), other)
            for link in found:  # an ordered link may hold the end more than once
                await links.delete(link.id)

        await service.run(use_case)

    def having(self, other: Any) -> Filter:
        """A filter on the declaring service's items: those linked to ``other`` (an id, or a
        ``by`` value, checked and normalized as the field is: ``?tag=Nightly`` finds the jobs
        tagged ``nightly``). For a list route's ``query_filters={"tag": JobService.tags.having}``;
        a value the field refuses is an :class:`InvalidInput`."""
        far = self._far_class()
        ends = far.repository.subquery("id", where(self.by) == self._checked(other))
        return where("id").in_(self.repository.subquery(self.source, where(self.target).in_(ends)))

    async def linked(
        self, service: Service[Any, Any], id: UUID, *, transitive: bool = False
    ) -> list[Any]:
        """The other ends the item ``id`` links to (404 when the caller does not see it);
        ``transitive``: those they link to as well, and so on (a self-referential link)."""
        await service.get(id)
        links = self.repository(service.db)
        if transitive and self.self_referential:
            ids = list(await reachable(links, id, source=self.source, target=self.target))
        else:
            found = await links.list(where(self.source) == id)
            if (position := self.position) is not None:
                found.sort(key=lambda link: getattr(link, position))
            ids = [getattr(link, self.target) for link in found]
        far = await self._far(service).scoped()
        ends = await far.list(where("id").in_(ids), order_by=self.order_by)
        if self.position is None or transitive:
            return ends
        by_id = {end.id: end for end in ends}
        return [by_id[i] for i in ids if i in by_id]  # in the link's order


def _equal(values: dict[str, Any]) -> list[Any]:
    return [where(field) == value for field, value in values.items()]


class BoundLinks:
    """A service's :class:`Links` for its principal: ``service.tags.add(job_id, "nightly")``."""

    def __init__(self, links: Links, service: Service[Any, Any]) -> None:
        self.links = links
        self.service = service

    async def add(self, id: UUID, other: Any) -> None:
        """Link the item ``id`` to ``other`` (its id, or its ``by`` value)."""
        await self.links.add(self.service, id, other)

    async def remove(self, id: UUID, other: Any) -> None:
        """Unlink the item ``id`` from ``other``; 404 when they are not linked."""
        await self.links.remove(self.service, id, other)

    async def replace(
        self, id: UUID, others: Sequence[Any], *, expected_version: int | None = None
    ) -> None:
        """Make ``others`` the item's whole list of links (in that order)."""
        await self.links.replace(self.service, id, others, expected_version=expected_version)

    async def linked(self, id: UUID, *, transitive: bool = False) -> list[Any]:
        """The other ends of the item ``id`` (``transitive``: and theirs, and so on)."""
        return await self.links.linked(self.service, id, transitive=transitive)
