"""Nested collections: ``/projects/{project_id}/tasks`` lists and creates tasks of one project.

The parent must be visible to the caller (its service's ``get`` finds it),
else every collection route answers 404, whatever the child rows are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import Depends, Path

from lamina.api.schemas import ResourceSchemas
from lamina.persistence import Op


@dataclass(frozen=True, slots=True)
class Parent:
    """The resource a collection is nested in (``/projects/{project_id}/tasks``).

    ``field`` is the child's field holding the parent's id (filterable by
    equality in the child's repository); ``provide`` the FastAPI dependency
    giving the parent's service, whose ``get`` must find the parent (else
    404); ``param`` the path parameter, by default named like ``field``.
    """

    field: str
    provide: Callable[..., Any]
    param: str | None = None

    @property
    def path_param(self) -> str:
        """The name of the path parameter holding the parent's id."""
        return self.param or self.field


def check_parent(
    parent: Parent,
    collection_params: list[str],
    filterable: Mapping[str, frozenset[Op]],
    schemas: ResourceSchemas,
) -> None:
    """Raise ValueError unless ``parent`` fits the collection path, repository and schemas."""
    if collection_params != [parent.path_param]:
        raise ValueError(
            f"the collection path must have exactly the parameter {{{parent.path_param}}}"
        )
    if Op.EQ not in filterable.get(parent.field, ()):
        raise ValueError(f"the repository must declare {parent.field!r} filterable by equality")
    for schema in (schemas.create, schemas.update):
        if parent.field in schema.model_fields:
            raise ValueError(
                f"{schema.__name__} must not contain {parent.field!r}: the path gives it"
            )


def parent_dependency(parent: Parent | None) -> Callable[..., Awaitable[UUID | None]]:
    """Dependency: the parent id from the path once its service found it (404 otherwise)."""
    if parent is None:

        async def no_parent() -> None:
            return None

        return no_parent

    async def visible_parent(
        parent_id: UUID = Path(alias=parent.path_param),
        parent_service: Any = Depends(parent.provide),
    ) -> UUID:
        await parent_service.get(parent_id)
        return parent_id

    return visible_parent
