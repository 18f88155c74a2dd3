"""The endpoints a resource router mounts beyond its closures: entities rendered through the
output schema with their ``ETag`` (:class:`Renderer`), a body parameter given to an endpoint
(:func:`take_body`) and the endpoint of an action (:func:`action_endpoint`)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Path, Query, Request
from pydantic import BaseModel, TypeAdapter
from starlette.responses import Response

from lamina.api.actions import PATH_PARAM, IfMatch, ResourceAction
from lamina.api.etags import etag, optional_version, required_version
from lamina.domain.entity import Entity
from lamina.persistence import CursorPage

JSON = "application/json"


class Renderer:
    """Entity → JSON response bytes through the output schema, with the ETag."""

    def __init__(self, out: type[BaseModel], page: type[BaseModel], versioned: bool) -> None:
        self.out = out
        self.versioned = versioned
        self._one = TypeAdapter(out)
        self._page = TypeAdapter(page)

    def headers(self, entity: Any) -> dict[str, str]:
        version = getattr(entity, "version", None) if self.versioned else None
        return {} if version is None else {"ETag": etag(version)}

    def one(
        self,
        entity: Any,
        status: int = 200,
        *,
        fields: frozenset[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """The entity as the output schema has it (only ``fields``, when given)."""
        out = self.out.model_validate(entity, from_attributes=True)
        body = self._one.dump_json(out, include=set(fields) if fields is not None else None)
        return Response(body, status, {**self.headers(entity), **(headers or {})}, JSON)

    def page(self, page: CursorPage[Any], *, fields: frozenset[str] | None = None) -> Response:
        """A page of items (each with only ``fields``, when given) and the next cursor."""
        data = {"items": page.items, "next_cursor": page.next_cursor}
        include: dict[str, Any] | None = None
        if fields is not None:
            include = {"items": {"__all__": set(fields)}, "next_cursor": True}
        validated = self._page.validate_python(data, from_attributes=True)
        return Response(self._page.dump_json(validated, include=include), 200, None, JSON)


_VERSION_DEPENDENCY = {
    IfMatch.REQUIRED: required_version,
    IfMatch.OPTIONAL: optional_version,
}


def take_body(endpoint: Callable[..., Any], schema: type[BaseModel]) -> None:
    """Give ``endpoint`` its ``body`` parameter, of ``schema``: optional when every field of it
    is (a resource whose fields all come from the path, the caller or defaults, as an
    enrollment: ``POST /courses/{id}/enrollments``, is created without a body)."""
    required = any(field.is_required() for field in schema.model_fields.values())
    signature = inspect.signature(endpoint)
    body = inspect.Parameter(
        "body",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=schema if required else schema | None,
        default=inspect.Parameter.empty if required else None,
    )
    endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[
            body if p.name == "body" else p.replace(kind=p.KEYWORD_ONLY)
            for p in signature.parameters.values()
        ]
    )


def action_endpoint(
    action: ResourceAction,
    rule: IfMatch,
    *,
    provide: Callable[..., Any],
    target: Any,
    render: Renderer,
    location: Callable[[Request, Entity], str] | None,
) -> Callable[..., Awaitable[Response]]:
    """The endpoint of one action: its signature tells FastAPI what to parse and inject
    (``target`` is the item id path parameter, or the visible parent's dependency)."""

    async def endpoint(
        request: Request,
        service: Any,
        target: Any = None,
        version: Any = None,
        body: Any = None,
        **path_values: Any,
    ) -> Response:
        ids = (target,) if target is not None else ()
        kwargs = {**path_values, **action.arguments(body)}
        if rule is not IfMatch.NONE:
            kwargs["expected_version"] = version
        result = await action.call(service, *ids, **kwargs)
        if action.answers_list:
            result = {"items": result}
        if action.success_status == 204:
            return Response(status_code=204)
        headers = {"Location": location(request, result)} if location is not None else {}
        return render.one(result, action.success_status, headers=headers)

    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [
        inspect.Parameter("request", keyword, annotation=Request),
        inspect.Parameter("service", keyword, default=Depends(provide), annotation=Any),
    ]
    target_type = UUID if action.on == "item" else Any
    parameters.append(inspect.Parameter("target", keyword, default=target, annotation=target_type))
    hints = action.parameter_types()  # a path parameter is a UUID unless it says otherwise
    for name in PATH_PARAM.findall(action.path or ""):
        kind = hints.get(name, UUID)  # its constraints (Annotated) apply too
        parameters.append(inspect.Parameter(name, keyword, annotation=Annotated[kind, Path()]))
    if rule is not IfMatch.NONE:
        parameters.append(
            inspect.Parameter(
                "version", keyword, default=Depends(_VERSION_DEPENDENCY[rule]), annotation=Any
            )
        )
    if action.query is not None:
        parameters.append(
            inspect.Parameter("body", keyword, annotation=Annotated[action.query, Query()])
        )
    if action.body is not None:
        optional = action.body_optional()
        parameters.append(
            inspect.Parameter(
                "body",
                keyword,
                default=None if optional else inspect.Parameter.empty,
                annotation=action.body | None if optional else action.body,
            )
        )
    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    endpoint.__name__ = f"{action.name}_action"
    return endpoint
