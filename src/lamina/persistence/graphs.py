"""Walking a self-referential many-to-many table (dependencies, reporting lines, prerequisites).

Rows of an edge table say "``source`` depends on ``target``" (both ids of the
same kind of row). :func:`reachable` follows them, one query per step however
many rows a step reaches; :func:`path_between` finds a path, which is what a
cycle check needs: a new edge ``a → b`` closes a cycle exactly when there is a
path ``b → … → a``::

    cycle = await path_between(Dependencies(uow), other_id, component_id,
                               source="component_id", target="depends_on_id")
    if cycle is not None:
        raise Conflict("this dependency would close the cycle " + " → ".join(...))
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from lamina.persistence.filters import where
from lamina.persistence.read_repository import ReadOnlyRepository


async def reachable(
    edges: ReadOnlyRepository[Any, Any],
    start: UUID,
    *,
    source: str,
    target: str,
    stop_at: UUID | None = None,
) -> dict[UUID, UUID]:
    """Every id reachable from ``start`` along ``source → target`` edges, each mapped to the
    id it was first reached from (breadth first; ``start`` itself only if a cycle leads back).
    Stops early once ``stop_at`` is reached. The edges' repository applies its scope."""
    came_from: dict[UUID, UUID] = {}
    frontier = [start]
    while frontier:
        found = await edges.list(where(source).in_(frontier))
        frontier = []
        for edge in found:
            origin, reached = getattr(edge, source), getattr(edge, target)
            if reached in came_from:
                continue
            came_from[reached] = origin
            if reached == stop_at:
                return came_from
            frontier.append(reached)
    return came_from


async def path_between(
    edges: ReadOnlyRepository[Any, Any], start: UUID, goal: UUID, *, source: str, target: str
) -> list[UUID] | None:
    """The ids of a shortest path from ``start`` to ``goal`` (both included), or None."""
    if start == goal:
        return [start]
    came_from = await reachable(edges, start, source=source, target=target, stop_at=goal)
    if goal not in came_from:
        return None
    path = [goal]
    while path[-1] != start:
        path.append(came_from[path[-1]])
    return path[::-1]
