"""Where a new or changed entity goes: the place its bound references give it, and the
numbers it takes within its parent.

A reference marked ``References(Component, within="project_id")`` must name a component of
the entity's own project (:func:`check_references`), and a create that names the component
but not the project takes the component's (:func:`place`). A field marked
``Numbered("job_id")`` gets the next number within its job (:func:`number`). Services call
these from their creates and changes; nothing here checks who may write.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, cast

from lamina.domain.entity import Entity, References
from lamina.domain.errors import NotFound
from lamina.persistence import Repository, UnitOfWork, repository_for, where
from lamina.service.scopes import Target


@functools.cache
def references_within(entity: type[Entity]) -> dict[str, References]:
    """The bound references of ``entity`` (``References(X, within=...)``), by field."""
    return entity.references_within()


@functools.cache
def _numbered(entity: type[Entity]) -> dict[str, str]:
    return entity.numbered()


async def check_references(target: Target, entity: Entity) -> None:
    """Each ``References(X, within=f)`` of ``entity`` names an X with the same ``f``
    (:class:`NotFound` otherwise, as though there were none)."""
    for field, marker in references_within(type(entity)).items():
        value = getattr(entity, field)
        if value is None:
            continue
        within = cast(str, marker.within)
        referenced = repository_for(marker.entity)(target)
        if not await referenced.exists(
            where("id") == value, where(within) == getattr(entity, within)
        ):
            raise NotFound(marker.entity.__name__, value)


async def place(
    entity: type[Entity], target: Target, values: Mapping[str, Any]
) -> Mapping[str, Any]:
    """``values`` with the place of each bound reference filled in when not given: a metric
    naming its component is in the component's project. :class:`NotFound` when the
    referenced entity is not there."""
    filled = dict(values)
    for field, marker in references_within(entity).items():
        within = cast(str, marker.within)
        if filled.get(field) is None or within in filled:
            continue
        found = await repository_for(marker.entity)(target).get_or_none(filled[field])
        if found is None:
            raise NotFound(marker.entity.__name__, filled[field])
        filled[within] = getattr(found, within)
    return filled


async def number(
    repository: type[Repository[Any, Any]], uow: UnitOfWork, items: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """``items`` with each ``Numbered`` field they leave out given the next number in its
    parent, in turn: one more than the parent's rows so far (deleted ones too), counted under
    a lock held until ``uow`` ends so concurrent creates take distinct numbers."""
    numbered = _numbered(repository.entity)
    if not numbered or not items:
        return list(items)
    rows = repository(uow)
    next_number: dict[tuple[str, Any], int] = {}
    filled: list[Mapping[str, Any]] = []
    for values in items:
        values = dict(values)
        for field, within in numbered.items():
            if values.get(field) is not None:
                continue
            key = (field, values.get(within))
            if key not in next_number:
                await uow.serialize(rows.table().name, *key)
                taken = await rows.count(where(within) == key[1], include_deleted=True)
                next_number[key] = taken + 1
            values[field] = next_number[key]
            next_number[key] += 1
        filled.append(values)
    return filled
