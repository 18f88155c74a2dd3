"""Actions: a resource's use cases beyond CRUD, mounted by ``resource_router`` as routes.

An action is a method of the resource's service, mounted next to its CRUD
routes with the same plumbing::

    class CourseService(Service[Course, User]):
        async def publish(self, id: UUID, *, expected_version: int | None = None) -> Course:
            ...  # self.act(id, "publish", ...): scope, policy, one unit of work

    resource_router(
        CourseService, provide=courses, path="/courses",
        actions=[ResourceAction("publish", CourseService.publish, errors=(409,))],
    )

mounts ``POST /courses/{id}/publish``: the service runs it for the caller, so
the scope applies (404 outside it); ``If-Match`` is required (428 without it,
412 when stale) on a versioned resource and its version reaches the method as
``expected_version``; the answer is the resource's output schema with its new
``ETag``; errors are problem+json; OpenAPI documents the header, the body and
every error answer.

The method is called with the item's id (``on="item"``, the default) or the
parent's id (``on="collection"``, after the parent is found visible; nothing
for an unnested collection), then the fields of ``body`` as keyword
arguments, then ``expected_version=`` when ``If-Match`` applies. It returns
the entity to answer with, or None for a 204.

What the method's signature and the route say is not repeated: an action whose
method takes no ``expected_version`` has no ``If-Match``; a ``DELETE``
answers 204 and a ``POST`` to the collection path itself 201 (``Location``)::

    ResourceAction("enroll", EnrollmentService.enroll, on="collection", path="")  # 201
    ResourceAction("leave", Members.leave, on="collection", path="me", method="DELETE")  # 204
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import re
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, create_model
from pydantic.fields import FieldInfo

from lamina.api.schemas import output_schema
from lamina.domain import Entity
from lamina.service import Links, Transition

PATH_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
"""A path parameter (``{id}``, ``{path:path}``) and its name."""

_NOT_BODY = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


class IfMatch(enum.StrEnum):
    """Whether an action takes the ``If-Match`` precondition."""

    REQUIRED = "required"
    """428 without it, 412 when it names another version."""
    OPTIONAL = "optional"
    """Checked when given (412 when stale); without it the action decides on the current row."""
    NONE = "none"
    """No precondition (the action does not change a versioned entity, or guards itself)."""


@dataclass(frozen=True, slots=True)
class ResourceAction:
    """A use case of a resource, mounted as a route by ``resource_router(actions=...)``.

    ``name`` is the last path segment (``POST {item_path}/{name}``) and names
    the operation (``{name}_{resource}``); ``path`` replaces the segment
    (``"me/accept"``, or ``""`` for the collection or item path itself); its
    parameters (``"{user_id}"``) are ids, passed to the method by name.
    ``call`` is the service's method (``CourseService.publish``). ``body`` is
    the request body's schema (optional in the request when all its fields
    have defaults); by default, its fields are the method's parameters
    beyond the id, the path's parameters and ``expected_version``, with
    their types and defaults (``record(self, id, watched_s: int, completed:
    bool = False)`` takes ``{"watched_s": 120}``). ``if_match`` defaults to
    required for an item action of a versioned resource whose method takes
    ``expected_version``, none otherwise.
    ``status_code`` is the success status (default: 204 for ``DELETE``, 201 for
    a ``POST`` to the collection path itself, 200 otherwise): 201 adds
    ``Location`` (when the GET route is mounted), 204 answers no body.
    ``errors`` are the further statuses the use case can answer (documented;
    409 by default, none for a ``GET``: a read of the resource that is not
    one of its CRUD routes, answering ``out``). ``out`` replaces the resource's
    output schema for this action; by default it is what the method is annotated to return
    when that is another model than the resource's entity (``-> CourseProgress``; another
    entity answers its output schema), and a method returning ``None`` answers 204; one
    returning ``list[Model]`` answers ``{"items": [...]}`` (``answers_list``). A ``GET``
    action's further parameters are its ``query`` parameters (``transitive: bool = False``
    is ``?transitive=true``; an unknown one is a 422).
    """

    name: str
    call: Callable[..., Awaitable[Any]]
    body: type[BaseModel] | None = None
    on: Literal["item", "collection"] = "item"
    path: str | None = None
    method: Literal["POST", "PUT", "PATCH", "DELETE", "GET"] = "POST"
    if_match: IfMatch | None = None
    status_code: int | None = None
    errors: Sequence[int] | None = None
    summary: str | None = None
    out: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    answers_list: bool = False

    @classmethod
    def transitions(cls, service: type, **options: Any) -> list[ResourceAction]:
        """An item action for each :class:`~lamina.service.Transition` of ``service``, named
        as the service names it, in the order declared: ``actions=ResourceAction.transitions(
        CourseService)`` mounts ``POST /courses/{id}/publish`` and ``…/archive``. ``options``
        are the actions' other fields (``if_match=IfMatch.NONE``)."""
        found: dict[str, Any] = {}
        for klass in reversed(service.__mro__):
            found.update((n, v) for n, v in vars(klass).items() if isinstance(v, Transition))
        if not found:
            raise ValueError(f"{service.__name__} declares no Transition")
        return [cls(name, getattr(service, name), **options) for name in found]

    @classmethod
    def links(
        cls,
        service: type,
        name: str,
        *,
        param: str = "other_id",
        answer_item: bool = False,
        **options: Any,
    ) -> list[ResourceAction]:
        """The routes of the :class:`~lamina.service.Links` ``name`` of ``service``:
        ``POST {item}/{name}/{param}`` links the item to the other end the path names (204;
        with ``answer_item``, 200 and the item), ``DELETE`` the same path unlinks them (the
        same; 404 when not linked), and ``GET {item}/{name}`` answers ``{"items": [...]}`` of
        the other ends (with ``?transitive=true`` for a link between alike). The path
        parameter has the type of what names the other end (a UUID, or the ``by`` field's,
        its rules included). ``options`` are the actions' other fields."""
        links = getattr(service, name, None)
        if not isinstance(links, Links):
            raise ValueError(f"{service.__name__}.{name} is no Links")
        far: Any = links.to or service
        ends = f"{far.entity.__name__}s"

        async def add(svc: Any, id: UUID, **path: Any) -> Any:
            await links.add(svc, id, path[param])
            return await svc.get(id) if answer_item else None

        async def remove(svc: Any, id: UUID, **path: Any) -> Any:
            await links.remove(svc, id, path[param])
            return await svc.get(id) if answer_item else None

        async def linked(svc: Any, id: UUID, transitive: bool = False) -> Any:
            return await links.linked(svc, id, transitive=transitive)

        answer = getattr(service, "entity", None) if answer_item else None
        for call, verb in [(add, "Link it to one of its"), (remove, "Unlink it from one of its")]:
            _signed(call, [("id", UUID), (param, links.by_type)], {"return": answer})
            call.__doc__ = f"{verb} {name}."
        read: list[tuple[str, Any]] = [("id", UUID)]
        if links.self_referential:
            read.append(("transitive", bool))
        _signed(linked, read, {"return": list.__class_getitem__(far.entity)})
        linked.__doc__ = f"Its {name} ({ends})."
        at = f"{name}/{{{param}}}"
        return [
            cls(f"link_{name}", add, path=at, **options),
            cls(
                f"unlink_{name}",
                remove,
                path=at,
                method="DELETE",
                errors=(),
                status_code=200 if answer_item else None,
                **options,
            ),
            cls(name, linked, method="GET", **options),
        ]

    def precondition(self, versioned: bool) -> IfMatch:
        """The ``If-Match`` rule of this action on a resource (``versioned`` or not)."""
        if self.if_match is not None:
            return self.if_match
        if self.method == "GET":
            return IfMatch.NONE
        takes_version = "expected_version" in inspect.signature(self.call).parameters
        return (
            IfMatch.REQUIRED if versioned and takes_version and self.on == "item" else IfMatch.NONE
        )

    @property
    def error_statuses(self) -> Sequence[int]:
        """The further statuses it can answer: ``errors``, or 409 for a change (none for a read)."""
        if self.errors is not None:
            return self.errors
        return () if self.method == "GET" else (409,)

    @property
    def success_status(self) -> int:
        """The status of a success: ``status_code``, or what the method and path imply."""
        if self.status_code is not None:
            return self.status_code
        if self.method == "DELETE":
            return 204
        return 201 if self.method == "POST" and self.on == "collection" and self.path == "" else 200

    def route_path(self, collection_path: str, item_path: str) -> str:
        """The route's path under the resource's collection or item path."""
        base = (item_path if self.on == "item" else collection_path).rstrip("/")
        segment = self.name if self.path is None else self.path.strip("/")
        return f"{base}/{segment}" if segment else base

    def arguments(self, body: BaseModel | None) -> dict[str, Any]:
        """The keyword arguments the body (or a GET's query) gives the method (its fields,
        as parsed)."""
        if body is None:
            model = self.query if self.method == "GET" else self.body
            if model is None:
                return {}
            body = model()
        return {name: getattr(body, name) for name in type(body).model_fields}

    def parameter_types(self) -> dict[str, Any]:
        """The types of the method's parameters (Annotated kept); none if unresolvable."""
        try:
            return typing.get_type_hints(self.call, include_extras=True)
        except (NameError, TypeError):
            return {}

    def with_signature_answer(
        self, entity: type[BaseModel], entity_out: type[BaseModel] | None = None
    ) -> ResourceAction:
        """This action, what it answers read from the method's return annotation when not
        given: ``-> None`` answers 204; another model than the resource's ``entity`` is
        ``out`` (an entity through its output schema, without its sensitive fields);
        ``-> list[Model]`` is ``{"items": [...]}`` of those (``entity_out`` for the
        resource's own entity)."""
        returned = self.parameter_types().get("return", entity)
        if returned is type(None) and self.status_code is None:
            return dataclasses.replace(self, status_code=204)
        listed = typing.get_args(returned) if typing.get_origin(returned) is list else ()
        if self.out is None and listed and isinstance(listed[0], type):
            item = listed[0]
            if issubclass(entity, item) and entity_out is not None:
                shown: Any = entity_out
            elif issubclass(item, BaseModel):
                shown = output_schema(item) if issubclass(item, Entity) else item
            else:
                return self
            items: type[BaseModel] = create_model(f"{item.__name__}List", items=(list[shown], ...))
            return dataclasses.replace(self, out=items, answers_list=True)
        if (
            self.out is not None
            or not isinstance(returned, type)
            or not issubclass(returned, BaseModel)
            or issubclass(entity, returned)
        ):
            return self
        out = output_schema(returned) if issubclass(returned, Entity) else returned
        return dataclasses.replace(self, out=out)

    def with_signature_body(
        self, takes_target: bool, entity: type[BaseModel] | None = None
    ) -> ResourceAction:
        """This action, its ``body`` made from the method's further parameters when not given
        (``takes_target``: the method's first parameter is the item's or parent's id). A
        parameter named like a field of the resource's ``entity`` and of the field's type
        takes the field's rules too (``watched_s: int`` is ``Field(ge=0)`` when the entity
        says so), so a value the entity refuses is a 422 before the use case runs."""
        if self.body is not None or self.query is not None:
            return self
        hints = self.parameter_types()
        parameters = list(inspect.signature(self.call).parameters.values())[1:]  # after self
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        if takes_target and parameters and parameters[0].kind in positional:
            parameters = parameters[1:]
        in_path = {*PATH_PARAM.findall(self.path or ""), "expected_version"}
        entity_fields = entity.model_fields if entity is not None else {}
        fields: dict[str, Any] = {}
        for p in parameters:
            if p.name in in_path or p.kind in _NOT_BODY:
                continue
            annotation = hints.get(p.name, Any)
            default = ... if p.default is p.empty else p.default
            same = entity_fields.get(p.name)
            if same is not None and same.annotation == annotation:  # the entity's rules
                fields[p.name] = (annotation, FieldInfo.merge_field_infos(same, default=default))
            else:
                fields[p.name] = (annotation, default)
        if not fields:
            return self
        reads = self.method == "GET"
        name = "".join(part.capitalize() for part in self.name.split("_"))
        name += "Query" if reads else "Body"
        strict = ConfigDict(extra="forbid")  # an unknown field is a 422, as in every body
        model: type[BaseModel] = create_model(name, __config__=strict, **fields)
        if reads:
            return dataclasses.replace(self, query=model)
        return dataclasses.replace(self, body=model)

    def body_optional(self) -> bool:
        """Whether the request may leave the body out (every field has a default)."""
        return self.body is not None and not any(
            field.is_required() for field in self.body.model_fields.values()
        )

    def summary_text(self, entity_name: str) -> str:
        """The OpenAPI summary: given, or the method's first docstring line."""
        if self.summary:
            return self.summary
        doc = (self.call.__doc__ or "").strip().splitlines()
        return doc[0].rstrip(".") if doc else f"{self.name.capitalize()} a {entity_name}"


def _signed(
    call: Callable[..., Any], parameters: list[tuple[str, Any]], hints: dict[str, Any]
) -> None:
    """Give ``call`` (taking the service first) the signature ``parameters`` say, so an
    action reads its path, query and answer from it as from a written method."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    listed = [inspect.Parameter("service", inspect.Parameter.POSITIONAL_ONLY)]
    for index, (name, kind) in enumerate(parameters):
        default = False if kind is bool else inspect.Parameter.empty
        how = inspect.Parameter.POSITIONAL_OR_KEYWORD if index == 0 else keyword
        listed.append(inspect.Parameter(name, how, annotation=kind, default=default))
    call.__signature__ = inspect.Signature(listed)  # type: ignore[attr-defined]
    call.__annotations__ = {**dict(parameters), **hints}


def check_actions(actions: Sequence[ResourceAction]) -> None:
    """Raise ValueError for actions that cannot be mounted side by side."""
    seen: set[tuple[str, str, str]] = set()
    for action in actions:
        if not action.name.isidentifier():
            raise ValueError(f"action name {action.name!r} must be an identifier (publish, end)")
        key = (action.on, action.method, action.path if action.path is not None else action.name)
        if key in seen:
            raise ValueError(f"two actions at {action.method} {action.on} {key[2]!r}")
        seen.add(key)
        if action.method == "GET" and (
            action.body is not None or action.if_match not in (None, IfMatch.NONE)
        ):
            raise ValueError(f"action {action.name!r}: a GET takes no body and no If-Match")
        if action.success_status == 204 and action.out is not None:
            raise ValueError(f"action {action.name!r}: a 204 answer has no output schema")
