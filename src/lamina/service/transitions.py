"""``Transition``: a use case that moves an entity from some states to another.

Lifecycles (a course's ``draft → published → archived``, a job run's
``queued → running → succeeded|failed``) are the most common actions beyond
CRUD, and each is the same use case: the entity must be in one of some states,
perhaps satisfy a further rule, and then moves to the next. Declare them on the
service::

    class CourseService(Service[Course, User]):
        publish = Transition("status", {DRAFT}, PUBLISHED, guard=has_a_video)
        archive = Transition("status", {PUBLISHED}, ARCHIVED)

Each is a method ``publish(id, *, expected_version=None)`` run by
:meth:`Service.act` under the action's name (scope, write scope, policy,
If-Match, the row held until commit, ``before_action`` / ``after_action`` and
``publishes``), and mountable as ``ResourceAction("publish",
CourseService.publish)``. An entity in another state is a
:class:`~lamina.domain.Conflict` (409) naming both.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Generic, TypeVar
from uuid import UUID

from lamina.domain.entity import Entity, utcnow
from lamina.domain.errors import Conflict
from lamina.persistence import UnitOfWork

E = TypeVar("E", bound=Entity)

Guard = Callable[[UnitOfWork, Any], Awaitable[None]]
"""A further rule of a transition: given the unit of work and the entity, raise to refuse."""


class Transition(Generic[E]):
    """A use case setting ``field`` from one of ``sources`` to ``target`` (see the module).

    ``guard`` may refuse it (raise a domain error). ``takes`` names fields of the entity the
    call takes as keyword arguments, with the fields' types and defaults, and sets: an action
    mounting it has them as its body, under the entity's rules. ``stamp`` names a field set
    to the time of the transition. ``also(entity, **values)`` gives further changes, from the
    entity and the keyword arguments of the call::

        fail = Transition("status", {RUNNING}, FAILED, takes=["error"], stamp="finished_at")
        ResourceAction("fail", RunService.fail)   # body {"error": ...}, as Run.error allows
    """

    def __init__(
        self,
        field: str,
        sources: Collection[Any],
        target: Any,
        *,
        guard: Guard | None = None,
        also: Callable[..., Mapping[str, Any]] | None = None,
        takes: Collection[str] = (),
        stamp: str | None = None,
        doc: str | None = None,
    ) -> None:
        self.field = field
        self.sources = frozenset(sources)
        self.target = target
        self.guard = guard
        self.also = also
        self.takes = tuple(takes)
        self.stamp = stamp
        self.name = ""
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        transition = self

        async def run(
            service: Any, id: UUID, *, expected_version: int | None = None, **values: Any
        ) -> E:
            return await transition._run(service, id, expected_version, values)

        run.__name__ = run.__qualname__ = name
        self._method = run

    def __get__(self, service: object | None, owner: type) -> Callable[..., Awaitable[E]]:
        method = self._method
        if method.__doc__ is None:  # the entity is known once the service class is made
            entity = getattr(owner, "entity", None)
            fields = entity.model_fields if entity is not None else {}
            if self.stamp is not None and fields and self.stamp not in fields:
                raise TypeError(f"Transition {self.name!r} stamps {self.stamp!r}: no such field")
            if self.takes:  # first: a field the entity lacks raises on every access
                self._declare_takes(method, entity)
            method.__doc__ = self.__doc__ or self._summary(entity)
        return method if service is None else types.MethodType(method, service)

    def _declare_takes(self, method: Callable[..., Any], entity: type[Entity] | None) -> None:
        """Give ``method`` the signature of the fields it takes (for actions' bodies)."""
        fields = entity.model_fields if entity is not None else {}
        missing = [name for name in self.takes if name not in fields]
        if missing:
            raise TypeError(f"Transition {self.name!r} takes {missing}: no such field")
        keyword = inspect.Parameter.KEYWORD_ONLY
        taken = [
            inspect.Parameter(
                name,
                keyword,
                annotation=fields[name].annotation,
                default=inspect.Parameter.empty
                if fields[name].is_required()
                else fields[name].get_default(call_default_factory=True),
            )
            for name in self.takes
        ]
        params = list(inspect.signature(method).parameters.values())
        params = [*params[:2], *taken, params[2]]  # service, id, the fields, expected_version
        method.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        method.__annotations__ = {
            **typing.get_type_hints(method),
            **{p.name: p.annotation for p in taken},
        }

    async def _run(
        self, service: Any, id: UUID, expected_version: int | None, values: dict[str, Any]
    ) -> E:
        async def decide(uow: UnitOfWork, entity: E) -> Mapping[str, Any]:
            current = getattr(entity, self.field)
            if current not in self.sources:
                allowed = " or ".join(sorted(_text(s) for s in self.sources))
                raise Conflict(
                    f"cannot {self.name} a {type(entity).__name__} that is "
                    f"{_text(current)} (only one that is {allowed})"
                )
            if self.guard is not None:
                await self.guard(uow, entity)
            changes = {name: values[name] for name in self.takes if name in values}
            if self.stamp is not None:
                changes[self.stamp] = utcnow()
            if self.also is not None:
                changes.update(self.also(entity, **values))
            return {**changes, self.field: self.target}

        result: E = await service.act(id, self.name, decide, expected_version=expected_version)
        return result

    def _summary(self, entity: type[Entity] | None) -> str:
        states = " or ".join(sorted(_text(s) for s in self.sources))
        what = entity.__name__ if entity is not None else "entity"
        return f"{self.name.capitalize()} the {what} (from {states} to {_text(self.target)})."


def _text(state: Any) -> str:
    return str(state.value) if isinstance(state, enum.Enum) else str(state)
