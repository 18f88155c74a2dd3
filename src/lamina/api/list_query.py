"""The query string of a list endpoint: filters on declared fields, ``sort``, ``limit``, ``cursor``.

Filter parameters are ``<field>`` (equals) or ``<field>__<operator>``
(``title__icontains=x``, ``score__ge=3``, ``status__in=open,closed``,
``deleted_at__is_null=true``), for the fields the repository declares
``filterable`` and the operators that make sense for each field's type (text
operators on text, comparisons on numbers and times…). ``sort`` is a comma
separated list of ``sortable`` fields, ``-`` first for descending. Anything
else — an unknown parameter, operator or sort field, a value of the wrong
type, a parameter given twice, a limit over the maximum — is refused with 400
invalid-input before the database is asked anything (G5, G11).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import types
import typing
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from annotated_types import Interval
from pydantic import Field, TypeAdapter, ValidationError
from sqlalchemy import BigInteger, Column, SmallInteger, String
from sqlalchemy import Enum as SAEnum
from starlette.requests import Request

from lamina.api.schemas import FiniteFloat, UTCDatetime
from lamina.domain.entity import SENSITIVE
from lamina.domain.errors import FieldError, InvalidInput
from lamina.persistence import Filter, Op, ReadOnlyRepository
from lamina.persistence.filters import LIST_OPS, TEXT_OPS

LIMIT, CURSOR, SORT, FIELDS = "limit", "cursor", "sort", "fields"
MAX_CURSOR_CHARS = 4096
CURSOR_PATTERN = f"^[A-Za-z0-9_-]{{22,{MAX_CURSOR_CHARS}}}$"
LIST_ITEM_PATTERN = "^[^,\\x00]+$"
"""A text value in a comma-separated list: not empty, no comma, no NUL."""
"""What a cursor looks like (URL-safe base64 of a signature and the position), for OpenAPI."""
MAX_LIST_ITEMS = 100
"""Most values one ``__in`` / ``__not_in`` parameter may carry."""
MAX_TEXT_CHARS = 1000
_MAX_ECHOED_CHARS = 64

_EQUALITY = (Op.EQ, Op.NE, Op.IN, Op.NOT_IN)
_ORDERED = (*_EQUALITY, Op.LT, Op.LE, Op.GT, Op.GE)
_TEXT = (*_EQUALITY, *sorted(TEXT_OPS))
_OP_DESCRIPTIONS = {
    Op.EQ: "Only items whose {} equals this value.",
    Op.NE: "Only items whose {} differs from this value.",
    Op.LT: "Only items whose {} is less than this value.",
    Op.LE: "Only items whose {} is at most this value.",
    Op.GT: "Only items whose {} is greater than this value.",
    Op.GE: "Only items whose {} is at least this value.",
    Op.IN: "Only items whose {} is one of these comma separated values.",
    Op.NOT_IN: "Only items whose {} is none of these comma separated values.",
    Op.CONTAINS: "Only items whose {} contains this text.",
    Op.ICONTAINS: "Only items whose {} contains this text, ignoring case.",
    Op.STARTSWITH: "Only items whose {} starts with this text.",
    Op.IS_NULL: "Only items whose {} is missing (true) or present (false).",
}
_INT_BITS = ((SmallInteger, 16), (BigInteger, 64))


@dataclass(frozen=True, slots=True)
class _FieldType:
    """How one field's values are read from a query string and documented."""

    ops: tuple[Op, ...]
    adapter: TypeAdapter[Any]
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FilterParameter:
    """One documented filter parameter: ``key`` (``title__icontains``) → field, operator."""

    key: str
    field: str
    op: Op
    parse: Callable[[str], Any]
    schema: dict[str, Any]
    description: str


@dataclass(frozen=True, slots=True)
class ListRequest:
    """A parsed list query: filters, ordering, page size and cursor."""

    filters: tuple[Filter, ...]
    order_by: tuple[str, ...]
    limit: int
    cursor: str | None
    fields: frozenset[str] | None = None
    """The fields each item is to have (``fields=``), or None for all of them."""


def parse_fields(raw: str, selectable: Collection[str]) -> frozenset[str]:
    """The field names of a ``fields=a,b`` parameter (sparse fieldsets): each one of
    ``selectable``, else :class:`~lamina.domain.InvalidInput` (400) naming it."""
    names = raw.split(",")
    for name in names:
        if name not in selectable:
            raise InvalidInput(
                f"no field {_echo(name)!r} to select",
                [FieldError(FIELDS, f"fields: {', '.join(selectable)}")],
            )
    return frozenset(names)


def fields_parameter(selectable: Collection[str]) -> dict[str, Any]:
    """The OpenAPI description of the ``fields`` query parameter."""
    names = "|".join(re.escape(name) for name in selectable)
    return _query(
        FIELDS,
        {"type": "string", "pattern": f"^({names})(,({names}))*$"},
        "Comma separated fields each item is to have (the others are left out): "
        + ", ".join(selectable)
        + ".",
    )


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The base type of an annotation and whether it admits None (None if it is a mix)."""
    if typing.get_origin(annotation) is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        base, _ = _unwrap(args[0]) if len(args) == 1 else (None, False)
        return base, True
    return annotation, False


def _int_schema(column: Column[Any]) -> tuple[TypeAdapter[Any], dict[str, Any]]:
    bits = next((b for kind, b in _INT_BITS if isinstance(column.type, kind)), 32)
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[int, Interval(ge=low, le=high)])
    return adapter, {"type": "integer", "minimum": low, "maximum": high}


def _field_type(annotation: Any, column: Column[Any]) -> _FieldType | None:
    base, _ = _unwrap(annotation)
    if base is bool:
        return _FieldType((Op.EQ, Op.NE), TypeAdapter(bool), {"type": "boolean"})
    if typing.get_origin(base) is typing.Literal or (
        isinstance(base, type) and issubclass(base, enum.Enum)
    ):
        choices = (
            list(typing.get_args(base))
            if typing.get_origin(base) is typing.Literal
            else [m.value for m in base]
        )
        if not all(isinstance(c, str | int) and not isinstance(c, bool) for c in choices):
            return None
        return _FieldType(_EQUALITY, TypeAdapter(base), {"enum": choices})
    if base is int:
        adapter, schema = _int_schema(column)
        return _FieldType(_ORDERED, adapter, schema)
    simple: dict[Any, tuple[tuple[Op, ...], Any, dict[str, Any]]] = {
        float: (_ORDERED, FiniteFloat, {"type": "number"}),
        Decimal: (
            _ORDERED,
            Annotated[Decimal, Field(allow_inf_nan=False)],
            {"type": "string", "format": "decimal"},
        ),
        dt.datetime: (_ORDERED, UTCDatetime, {"type": "string", "format": "date-time"}),
        dt.date: (_ORDERED, dt.date, {"type": "string", "format": "date"}),
        uuid.UUID: (_EQUALITY, uuid.UUID, {"type": "string", "format": "uuid"}),
    }
    if base in simple:
        ops, kind, schema = simple[base]
        return _FieldType(ops, TypeAdapter(kind), schema)
    if base is str:
        textual = isinstance(column.type, String) and not isinstance(column.type, SAEnum)
        schema = {"type": "string", "maxLength": MAX_TEXT_CHARS}
        return _FieldType(_TEXT if textual else _EQUALITY, TypeAdapter(str), schema)
    return None


_DECIMAL = re.compile(r"[0-9]{1,6}")  # ASCII digits of a sane size; int() of huge text raises


def _echo(text: str) -> str:
    return text if len(text) <= _MAX_ECHOED_CHARS else text[: _MAX_ECHOED_CHARS - 1] + "…"


def _text_reader(key: str) -> Callable[[str], str]:
    def read_text(raw: str) -> str:
        if "\x00" in raw or len(raw) > MAX_TEXT_CHARS:
            raise InvalidInput.for_field(key, f"at most {MAX_TEXT_CHARS} characters, no NUL")
        return raw

    return read_text


def _reader(adapter: TypeAdapter[Any], key: str, op: Op) -> Callable[[str], Any]:
    read_text = _text_reader(key)

    def read_one(raw: str) -> Any:
        try:
            return adapter.validate_python(read_text(raw))
        except ValidationError as exc:
            message = exc.errors()[0]["msg"] if exc.errors() else "invalid value"
            raise InvalidInput.for_field(key, message) from None

    if op in LIST_OPS:

        def read_list(raw: str) -> list[Any]:
            parts = raw.split(",")
            if "" in parts:  # "a,,b", or nothing at all: not a list of values
                raise InvalidInput.for_field(key, "a comma-separated list of values, none empty")
            if len(parts) > MAX_LIST_ITEMS:
                raise InvalidInput.for_field(key, f"at most {MAX_LIST_ITEMS} values")
            return [read_one(p) for p in parts]

        return read_list
    if op in TEXT_OPS:
        return read_text
    return read_one


_FLAG = TypeAdapter(bool)


def only_parameters(*names: str) -> Callable[[Request], None]:
    """Dependency refusing (400) query parameters other than ``names``, as list routes do:
    a misspelt parameter is an error, not silently ignored."""
    allowed = frozenset(names)

    def check(request: Request) -> None:
        for key in request.query_params:
            if key not in allowed:
                raise InvalidInput.for_field(_echo(key), "unknown query parameter")

    return check


class ListQuery:
    """Parses and documents the query string of a repository's list endpoint.

    ``exclude`` names filterable fields not offered (a parent id fixed by the
    path). Sensitive fields are never offered for filtering or sorting: they
    would let a client guess their values. ``aliases`` adds shorter names for
    filter parameters (``{"q": "title__icontains"}``). ``limit`` defaults to
    ``default_limit`` and may not exceed ``max_limit``. ``selectable`` names the
    fields ``fields=`` may ask for (the output schema's); none, no ``fields``.
    ``custom`` maps further parameter names to the filter a (text) value makes:
    filters that are no field of the entity (``tag=`` through a link table).
    """

    def __init__(
        self,
        repository: type[ReadOnlyRepository[Any, Any]],
        *,
        default_limit: int = 50,
        max_limit: int = 100,
        exclude: Iterable[str] = (),
        aliases: Mapping[str, str] | None = None,
        selectable: Collection[str] = (),
        custom: Mapping[str, Callable[[str], Filter]] | None = None,
    ) -> None:
        self.selectable = tuple(selectable)
        self.custom = dict(custom or {})
        if not 1 <= default_limit <= max_limit:
            raise ValueError("need 1 <= default_limit <= max_limit")
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.parameters: dict[str, FilterParameter] = {}
        mapper = repository.mapper()
        declared = repository.allowed_filters()
        hidden = repository.entity.fields_marked(SENSITIVE)
        excluded = set(exclude) | hidden
        kinds: dict[str, _FieldType | None] = {}
        for field, allowed in declared.items():
            if field.split(".")[0] in excluded:
                continue
            column = mapper.column_for(field)
            if column is None:
                continue
            annotation = _annotation(repository, field)
            kind = _field_type(annotation, column)
            ops = [op for op in kind.ops if op in allowed] if kind else []
            if column.nullable and Op.IS_NULL in allowed and _unwrap(annotation)[1]:
                ops.append(Op.IS_NULL)
            for op in ops:
                self._add(field, op, kind)
            kinds[field] = kind
        for alias, target in (aliases or {}).items():
            found = self.parameters.get(target)
            if found is None or alias in self.parameters or alias in (LIMIT, CURSOR, SORT, FIELDS):
                raise ValueError(f"alias {alias!r}: {target!r} is no filter, or the name is taken")
            self._add(found.field, found.op, kinds[found.field], key=alias)
        pk = repository.table().primary_key.columns.keys()[0]
        sortable = [f for f in repository.sortable if f.split(".")[0] not in hidden]
        self.sortable: tuple[str, ...] = tuple(dict.fromkeys([*sortable, pk]))

    def _add(self, field: str, op: Op, kind: _FieldType | None, key: str | None = None) -> None:
        key = key or (field if op is Op.EQ else f"{field}__{op.value}")
        if op is Op.IS_NULL:
            parse: Callable[[str], Any] = _reader(_FLAG, key, op)
            schema: dict[str, Any] = {"type": "boolean"}
        else:
            assert kind is not None
            parse = _reader(kind.adapter, key, op)
            schema = dict(kind.schema)
            if op in LIST_OPS:
                if schema.get("type") == "string" and not schema.keys() & {"enum", "format"}:
                    schema["pattern"] = LIST_ITEM_PATTERN
                schema = {
                    "type": "array",
                    "items": schema,
                    "minItems": 1,
                    "maxItems": MAX_LIST_ITEMS,
                }
            elif op in TEXT_OPS:
                schema = {"type": "string", "maxLength": MAX_TEXT_CHARS}
        description = _OP_DESCRIPTIONS[op].format(field)
        self.parameters[key] = FilterParameter(key, field, op, parse, schema, description)

    # ------------------------------------------------------------------ parsing

    def parse(self, items: Sequence[tuple[str, str]], *, paging: bool = True) -> ListRequest:
        """The request a query string's ``(key, value)`` items describe; raises InvalidInput."""
        seen: set[str] = set()
        filters: list[Filter] = []
        order_by: tuple[str, ...] = ()
        limit = self.default_limit
        cursor: str | None = None
        fields: frozenset[str] | None = None
        for key, raw in items:
            if key in seen:
                raise InvalidInput.for_field(_echo(key), "give this parameter once")
            seen.add(key)
            if paging and key == LIMIT:
                limit = self._limit(raw)
            elif paging and key == CURSOR:
                if not raw or len(raw) > MAX_CURSOR_CHARS:
                    raise InvalidInput.for_field(CURSOR, "malformed or tampered cursor")
                cursor = raw
            elif paging and key == SORT:
                order_by = self._sort(raw)
            elif paging and key == FIELDS and self.selectable:
                fields = parse_fields(raw, self.selectable)
            elif key in self.custom:
                filters.append(self.custom[key](_text_reader(key)(raw)))
            else:
                parameter = self.parameters.get(key)
                if parameter is None:
                    raise InvalidInput.for_field(
                        _echo(key), "unknown query parameter (not a declared filter)"
                    )
                filters.append(Filter(parameter.field, parameter.op, parameter.parse(raw)))
        return ListRequest(tuple(filters), order_by, limit, cursor, fields)

    def _limit(self, raw: str) -> int:
        if _DECIMAL.fullmatch(raw) is None or not 1 <= int(raw) <= self.max_limit:
            raise InvalidInput.for_field(LIMIT, f"an integer from 1 to {self.max_limit}")
        return int(raw)

    def _sort(self, raw: str) -> tuple[str, ...]:
        keys = raw.split(",")
        for key in keys:
            if key.removeprefix("-") not in self.sortable:
                raise InvalidInput(
                    f"cannot sort by {_echo(key)!r}",
                    [FieldError(SORT, f"sortable fields: {', '.join(self.sortable)}")],
                )
        return tuple(keys)

    # ------------------------------------------------------------------ documentation

    def openapi_parameters(self, *, paging: bool = True) -> list[dict[str, Any]]:
        """The OpenAPI ``parameters`` of the list (or, without paging, count) operation."""
        out: list[dict[str, Any]] = []
        if paging:
            names = "|".join(re.escape(name) for name in self.sortable)
            out += [
                _query(
                    LIMIT,
                    {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": self.max_limit,
                        "default": self.default_limit,
                    },
                    f"Page size, at most {self.max_limit}.",
                ),
                _query(
                    CURSOR,
                    {"type": "string", "pattern": CURSOR_PATTERN},
                    "The next_cursor of the previous page (opaque; a changed cursor is refused).",
                ),
                _query(
                    SORT,
                    {"type": "string", "pattern": f"^-?({names})(,-?({names}))*$"},
                    "Comma separated fields to sort by, '-' first for descending: "
                    + ", ".join(self.sortable)
                    + ".",
                ),
            ]
            if self.selectable:
                out.append(fields_parameter(self.selectable))
        for name in self.custom:
            text = {"type": "string", "maxLength": MAX_TEXT_CHARS}
            out.append(_query(name, text, f"Only items matching this {name}."))
        for p in self.parameters.values():
            parameter = _query(p.key, p.schema, p.description)
            if p.schema.get("type") == "array":
                parameter.update(style="form", explode=False)
            out.append(parameter)
        return out


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _annotation(repository: type[ReadOnlyRepository[Any, Any]], field: str) -> Any:
    name, _, sub = field.partition(".")
    annotation = repository.entity.model_fields[name].annotation
    if sub:
        model, _ = _unwrap(annotation)
        annotation = model.model_fields[sub].annotation
    return annotation
