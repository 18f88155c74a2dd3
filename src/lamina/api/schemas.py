"""Request and response schemas derived from an entity, so mass assignment is impossible.

From one :class:`~lamina.domain.Entity` come three Pydantic models:

* ``<Entity>Create``: the fields a client may set, required as the entity
  requires them. Server-owned fields (id, timestamps, version, deleted_at,
  actors) and read-only ones are left out (G12); unknown fields are refused
  (``extra="forbid"``), so sending ``id`` or ``version`` is a 422, never
  silently ignored.
* ``<Entity>Update``: the same fields, all optional, for a partial update (only
  the fields sent change; ``null`` is accepted only where the entity allows it).
* ``<Entity>Out``: every field except the sensitive ones (those also marked
  :class:`~lamina.domain.ShowLast` are returned masked: ``****1234``).

Input fields are tightened to what every database stores: datetimes must be
timezone-aware (and are converted to UTC), integers fit in 64 bits and floats
are finite, so no client value can make a driver fail. Write a schema by hand
where the shapes really differ and pass it to :meth:`ResourceSchemas.from_entity`.
"""

from __future__ import annotations

import functools
import operator
import types
import typing
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any

from annotated_types import Interval
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    create_model,
)
from pydantic.fields import FieldInfo

from lamina.domain.editors_only import has_editors_only
from lamina.domain.entity import (
    EDITORS_ONLY,
    IMMUTABLE,
    READ_ONLY,
    SENSITIVE,
    SERVER_OWNED,
    Entity,
)
from lamina.domain.masking import ShowLast

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None


UTCDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""A timezone-aware datetime, converted to UTC (naive ones are refused)."""
Int64 = Annotated[int, Interval(ge=INT64_MIN, le=INT64_MAX)]
"""An integer that fits in 64 bits."""
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
"""A float that is neither infinite nor NaN."""

_INPUT_TYPES: dict[Any, Any] = {datetime: UTCDatetime, int: Int64, float: FiniteFloat}


def input_type(annotation: Any) -> Any:
    """``annotation`` with datetimes, ints and floats (also nested) tightened for input."""
    if annotation in _INPUT_TYPES:
        return _INPUT_TYPES[annotation]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        return Annotated[(input_type(args[0]), *annotation.__metadata__)]
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(input_type(a) for a in args)]  # noqa: UP007
    if origin in (list, set, frozenset, dict, tuple) and args:
        return origin[tuple(input_type(a) if a is not Ellipsis else a for a in args)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _input_model(annotation)
    return annotation


@cache
def _input_model(model: type[BaseModel]) -> type[BaseModel]:
    """A copy of a nested model (a value object) with input types, or the model unchanged."""
    tightened = {name: input_type(info.annotation) for name, info in model.model_fields.items()}
    if all(tightened[n] == info.annotation for n, info in model.model_fields.items()):
        return model
    fields = {n: _rebuilt(info, tightened[n]) for n, info in model.model_fields.items()}
    # A subclass, so the model's own validators (one field checked against another) still run.
    strict = type(model)(  # type: ignore[misc]
        f"{model.__name__}Input",
        (model,),
        {"model_config": ConfigDict(extra="forbid", frozen=True), "__module__": model.__module__},
    )
    return create_model(  # type: ignore[no-any-return,call-overload]
        f"{model.__name__}Input", __base__=strict, __doc__=model.__doc__, **fields
    )


def _rebuilt(info: FieldInfo, annotation: Any, **overrides: Any) -> tuple[Any, Any]:
    """``(annotation, FieldInfo)`` for ``create_model``: ``info``'s constraints and settings."""
    attributes = {**info.asdict()["attributes"], **overrides}
    attributes = {k: v for k, v in attributes.items() if k not in ("init", "init_var", "kw_only")}
    if info.metadata:
        annotation = Annotated[(annotation, *info.metadata)]
    return annotation, Field(**attributes)


def _readers_field(info: FieldInfo) -> tuple[Any, Any]:
    """An output field: an ``EDITORS_ONLY`` one nullable (readers get None), and value objects
    holding such fields in their readers' form (:func:`_readers_type`)."""
    if EDITORS_ONLY in info.metadata:
        annotation, field = _rebuilt(info, _readers_type(info.annotation))
        return annotation | None, field
    return _rebuilt(info, _readers_type(info.annotation))


def _readers_type(annotation: Any) -> Any:
    """``annotation`` with each model holding ``EDITORS_ONLY`` fields replaced by its readers'
    form (``Question`` → ``QuestionOut``, ``list[Question]`` → ``list[QuestionOut]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _readers_model(annotation) if has_editors_only(annotation) else annotation
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is None or not arguments:
        return annotation
    if origin is Annotated:
        return Annotated[(_readers_type(arguments[0]), *annotation.__metadata__)]
    replaced = tuple(a if a is Ellipsis else _readers_type(a) for a in arguments)
    if replaced == arguments:
        return annotation
    if origin in (typing.Union, types.UnionType):
        return functools.reduce(operator.or_, replaced)
    return origin[replaced]


@cache
def _readers_model(model: type[BaseModel]) -> type[BaseModel]:
    """``<Model>Out``: the fields of a value object as readers get them (without its
    validators: a reader's None breaks them)."""
    fields = {name: _readers_field(info) for name, info in model.model_fields.items()}
    return create_model(  # type: ignore[no-any-return,call-overload]
        f"{model.__name__}Out", __config__=ConfigDict(from_attributes=True), **fields
    )


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _partial_extra(info: FieldInfo) -> Any:
    """A ``json_schema_extra`` dropping the placeholder default of an optional update field."""
    original = info.json_schema_extra
    if original is None:
        return _without_default
    if callable(original):

        def extra(schema: dict[str, Any]) -> None:
            original(schema)
            _without_default(schema)

        return extra

    def merged(schema: dict[str, Any]) -> None:
        schema.update(original)
        _without_default(schema)

    return merged


def client_settable(entity: type[Entity], exclude: Iterable[str] = ()) -> list[str]:
    """The fields of ``entity`` a client may set: not server-owned, read-only or excluded."""
    hidden = entity.fields_marked(SERVER_OWNED) | entity.fields_marked(READ_ONLY) | set(exclude)
    return [name for name in entity.model_fields if name not in hidden]


def create_schema(
    entity: type[Entity],
    *,
    exclude: Collection[str] = (),
    optional: Collection[str] = (),
    name: str | None = None,
) -> type[BaseModel]:
    """``<Entity>Create``: the client-settable fields, required as the entity requires them,
    but those in ``optional``: null by default, for the service to derive (a slug from the
    title, in its ``new_entity``)."""
    unknown = set(optional) - set(client_settable(entity, exclude))
    if unknown:
        raise ValueError(f"optional names no client-settable field of {entity.__name__}: {unknown}")
    fields = {
        field: _rebuilt(info, input_type(info.annotation))
        if field not in optional
        else _rebuilt(info, input_type(info.annotation) | None, default=None, default_factory=None)
        for field in client_settable(entity, exclude)
        for info in [entity.model_fields[field]]
    }
    return create_model(  # type: ignore[no-any-return,call-overload]
        name or f"{entity.__name__}Create",
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"The fields a client sets to create a {entity.__name__}.",
        **fields,
    )


def update_schema(
    entity: type[Entity], *, exclude: Collection[str] = (), name: str | None = None
) -> type[BaseModel]:
    """``<Entity>Update``: every client-settable field but the ``IMMUTABLE`` ones, optional;
    dump with ``exclude_unset``."""
    exclude = {*exclude, *entity.fields_marked(IMMUTABLE)}
    fields = {
        field: _rebuilt(
            info,
            input_type(info.annotation),
            default=None,
            default_factory=None,
            json_schema_extra=_partial_extra(info),
        )
        for field in client_settable(entity, exclude)
        for info in [entity.model_fields[field]]
    }
    return create_model(  # type: ignore[no-any-return,call-overload]
        name or f"{entity.__name__}Update",
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"The fields of a {entity.__name__} to change; the others keep their values.",
        **fields,
    )


def output_schema(
    entity: type[Entity], *, exclude: Collection[str] = (), name: str | None = None
) -> type[BaseModel]:
    """``<Entity>Out``: every field of ``entity`` but the sensitive and excluded ones; a
    sensitive field marked :class:`~lamina.domain.ShowLast` is returned masked."""
    shown_masked = {
        field: marker
        for field, info in entity.model_fields.items()
        for marker in info.metadata
        if isinstance(marker, ShowLast)
    }
    hidden = (entity.fields_marked(SENSITIVE) - shown_masked.keys()) | set(exclude)
    fields = {
        field: _readers_field(info)
        for field, info in entity.model_fields.items()
        if field not in hidden
    }
    for field, marker in shown_masked.items():
        if field in fields:
            annotation, info = fields[field]
            masked = PlainSerializer(marker.mask, return_type=str | None)
            fields[field] = (Annotated[annotation, masked], info)
    return create_model(  # type: ignore[no-any-return,call-overload]
        name or f"{entity.__name__}Out",
        __config__=ConfigDict(
            from_attributes=True, json_schema_serialization_defaults_required=True
        ),
        __doc__=f"A {entity.__name__} as the API returns it.",
        **fields,
    )


@cache
def partial_schema(out: type[BaseModel]) -> type[BaseModel]:
    """``<Entity>Partial``: the fields of ``out``, none of them required: what a route answers
    when ``fields=`` asks for some of them (for the OpenAPI document)."""
    base = out.__name__.removesuffix("Out")
    fields = {
        name: (info.annotation, Field(None, description=info.description))
        for name, info in out.model_fields.items()
    }
    return create_model(  # type: ignore[no-any-return,call-overload]
        f"{base}Partial",
        __doc__=f"The fields of a {base} that fields= asked for.",
        **fields,
    )


def page_schema(
    out: type[BaseModel], *, name: str | None = None, partial: bool = False
) -> type[BaseModel]:
    """``<Out>Page``: ``{items: [...], next_cursor}``, one page of a list (``partial``: whose
    items may also have only the fields ``fields=`` asked for)."""
    base = out.__name__.removesuffix("Out")
    item: Any = out | partial_schema(out) if partial else out
    return create_model(
        name or f"{base}Page",
        __config__=ConfigDict(json_schema_serialization_defaults_required=True),
        __doc__=(
            f"One page of {base} items; pass next_cursor as cursor to get the next page "
            "(null on the last one)."
        ),
        items=(list[item], ...),
        next_cursor=(str | None, None),
    )


class RequestBody(BaseModel):
    """The base of a request body written by hand: an unknown field is a 422, as in the
    schemas derived from entities (``class RoleChange(RequestBody): role: Role``)."""

    model_config = ConfigDict(extra="forbid")


class Count(BaseModel):
    """How many items match."""

    count: int


def check_input_schema(schema: type[BaseModel], entity: type[Entity]) -> None:
    """Raise ``TypeError`` if ``schema`` lets a client set what it must not.

    An input schema must forbid unknown fields and must not expose the
    entity's server-owned or read-only fields.
    """
    if schema.model_config.get("extra") != "forbid":
        raise TypeError(f"{schema.__name__} must refuse unknown fields: extra='forbid'")
    owned = entity.fields_marked(SERVER_OWNED) | entity.fields_marked(READ_ONLY)
    exposed = sorted(owned & schema.model_fields.keys())
    if exposed:
        raise TypeError(f"{schema.__name__} exposes server-owned or read-only fields {exposed}")


@dataclass(frozen=True, slots=True)
class ResourceSchemas:
    """The create, update and output schemas of one resource."""

    create: type[BaseModel]
    update: type[BaseModel]
    out: type[BaseModel]

    @classmethod
    def from_entity(
        cls,
        entity: type[Entity],
        *,
        exclude_input: Collection[str] = (),
        exclude_output: Collection[str] = (),
        optional_input: Collection[str] = (),
        create: type[BaseModel] | None = None,
        update: type[BaseModel] | None = None,
        out: type[BaseModel] | None = None,
    ) -> ResourceSchemas:
        """Schemas derived from ``entity``; any of them can be given by hand instead.

        ``exclude_input`` leaves further fields out of create and update (a
        parent id taken from the path, a field a use case sets);
        ``exclude_output`` out of the output; ``optional_input`` makes fields optional on
        create (the service derives them when not given). Hand-written input schemas are
        checked with :func:`check_input_schema`.
        """
        schemas = cls(
            create=create or create_schema(entity, exclude=exclude_input, optional=optional_input),
            update=update or update_schema(entity, exclude=exclude_input),
            out=out or output_schema(entity, exclude=exclude_output),
        )
        check_input_schema(schemas.create, entity)
        check_input_schema(schemas.update, entity)
        return schemas
