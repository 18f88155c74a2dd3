"""``Route.CREATE_MANY``: many items of a collection created by one request, all or none.

    resources.router(
        MetricService, path="/components/{component_id}/metrics",
        routes={Route.LIST, Route.CREATE_MANY},
        create_many=CreateMany(items="points", max_items=10_000, answer="stored"),
    )

mounts ``POST /components/{id}/metrics`` taking ``{"points": [...]}``: 1 to 10,000 items of the
resource's create schema (more, fewer or a bad one is a 422 naming it, and nothing is stored),
created by ``Service.create_many`` in one unit of work (each checked as a create is, written in
one round trip per batch) and answered 201 ``{"stored": 10000}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.responses import JSONResponse, Response

from lamina.api.endpoints import take_body


@dataclass(frozen=True)
class CreateMany:
    """What ``Route.CREATE_MANY`` reads and answers: the body's list under ``items`` (1 to
    ``max_items`` of them) and the count created under ``answer``."""

    items: str = "items"
    max_items: int = 1_000
    answer: str = "created"


def mount_create_many(
    router: APIRouter,
    options: CreateMany,
    *,
    path: str,
    entity_name: str,
    create_schema: type[BaseModel],
    provide: Callable[..., Any],
    visible_parent: Callable[..., Any],
    parent_field: str | None,
    responses: Mapping[int | str, dict[str, Any]],
    operation_id: str,
) -> None:
    """Add the ``POST {path}`` route of :class:`CreateMany` to ``router``."""
    listed = Annotated[list[create_schema], Field(min_length=1, max_length=options.max_items)]  # type: ignore[valid-type]
    taken: dict[str, Any] = {options.items: (listed, ...)}
    answered: dict[str, Any] = {options.answer: (int, ...)}
    strict = ConfigDict(extra="forbid")  # an unknown key is a 422, as in every body
    body_model = create_model(f"{entity_name}Batch", __config__=strict, **taken)
    answer_model = create_model(f"{entity_name}BatchCreated", **answered)

    async def create_items(
        body: Any,
        service: Any = Depends(provide),
        parent_id: UUID | None = Depends(visible_parent),
    ) -> Response:
        items = [item.model_dump() for item in getattr(body, options.items)]
        common = {parent_field: parent_id} if parent_field is not None else {}
        stored = await service.create_many(items, **common)
        return JSONResponse({options.answer: len(stored)}, status_code=201)

    take_body(create_items, body_model)
    router.add_api_route(
        path,
        create_items,
        methods=["POST"],
        status_code=201,
        response_model=answer_model,
        summary=f"Create up to {options.max_items:,} {entity_name} items at once",
        operation_id=operation_id,
        responses=dict(responses),
    )
