"""Building blocks of the repository's statements, split into *shape* and *values*.

Each request is reduced to a hashable shape (which fields, which operators,
how many values, which sort) plus named parameter values. Statements are built
from the shape alone, so one compiled statement serves every request of that
shape, and no value ever reaches the SQL text (G5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import (
    Column,
    ColumnElement,
    and_,
    bindparam,
    false,
    not_,
    or_,
    select,
    tuple_,
)
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from lamina.domain.errors import InvalidInput
from lamina.persistence.encryption import EncryptedField
from lamina.persistence.errors import SURROGATES
from lamina.persistence.filters import EQUALITY_OPS, LIST_OPS, TEXT_OPS, Filter, Op, Subquery
from lamina.persistence.keyring import Keyring
from lamina.persistence.mapping import EntityMapper, integer_range, storable

MAX_LIST_VALUES = 1000
"""Most values one ``in`` / ``not_in`` filter may carry."""

Columns = ReadOnlyColumnCollection[str, Column[Any]]
"""A table's ``.c``."""


@dataclass(frozen=True, slots=True)
class SubqueryShape:
    """The shape of a :class:`Subquery` filter value: what it selects, from where, how filtered."""

    repository: Any
    column: str
    include_deleted: bool
    filters: FilterShape


FilterShape = tuple[tuple[str, Op, "int | SubqueryShape | FilterShape"], ...]
"""Per filter: the column, the operator, and how many values (or the subquery's shape, or
the alternatives' shape for :data:`Op.ANY`)."""
OrderShape = tuple[tuple[str, bool], ...]
"""``(column name, descending)`` pairs, the primary key last."""


def escape_like(text: str) -> str:
    """``text`` with LIKE wildcards escaped (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def invalid_from_validation(field: str, exc: ValidationError) -> InvalidInput:
    """An :class:`InvalidInput` about ``field`` from a Pydantic validation error."""
    message = exc.errors()[0]["msg"] if exc.errors() else "invalid value"
    return InvalidInput.for_field(field, message)


@dataclass(frozen=True, slots=True)
class FilterSet:
    """Validated filters: their shape (for the statement) and their values (for binding)."""

    shape: FilterShape
    params: dict[str, Any]


def prepare_filters(
    filters: Sequence[Filter],
    mapper: EntityMapper[Any],
    allowed: Mapping[str, frozenset[Op]] | None,
    prefix: str,
    keyring: Keyring | None = None,
) -> FilterSet:
    """Check filters against the declared fields (``allowed``; None trusts the caller) and
    coerce their values to the fields' types. Raises :class:`InvalidInput`.

    An encrypted field can be compared for equality only, through its blind
    index (its values become digests under ``keyring``'s blind-index key)."""
    shape: list[tuple[str, Op, int | SubqueryShape | FilterShape]] = []
    params: dict[str, Any] = {}
    for f in filters:
        if not isinstance(f, Filter):
            raise TypeError(f"expected a Filter, got {type(f).__name__}")
        if f.op is Op.ANY:
            alternatives = prepare_filters(
                f.value, mapper, allowed, f"{prefix}{len(shape)}o", keyring
            )
            params.update(alternatives.params)
            shape.append(("", f.op, alternatives.shape))
            continue
        if allowed is not None:
            ops = allowed.get(f.field)
            if ops is None:
                raise InvalidInput.for_field(f.field, "filtering on this field is not allowed")
            _check_encrypted(f, mapper)
            if f.op not in ops:
                raise InvalidInput.for_field(
                    f.field, f"operator {f.op.value!r} is not allowed here"
                )
        column = mapper.column_for(f.field)
        if column is None:
            raise InvalidInput.for_field(f.field, "unknown field")
        base = f"{prefix}{len(shape)}"
        encrypted = _check_encrypted(f, mapper)
        if encrypted is not None and f.op is not Op.IS_NULL:
            digests = _blind_index_values(f, mapper, encrypted, keyring, column)
            for i, digest in enumerate(digests):
                params[f"{base}_{i}" if f.op in LIST_OPS else base] = digest
            count = len(digests) if f.op in LIST_OPS else 1
            shape.append((str(encrypted.blind_index), f.op, count))
            continue
        if f.op is Op.IS_NULL:
            if not isinstance(f.value, bool | str):
                raise InvalidInput.for_field(f.field, "is_null takes true or false")
            flag = f.value if isinstance(f.value, bool) else f.value.lower() in ("1", "true", "yes")
            shape.append((column.name, f.op, int(flag)))
            continue
        if f.op in TEXT_OPS:
            if not isinstance(f.value, str):
                raise InvalidInput.for_field(f.field, "a text value is required")
            _check_text(f.field, f.value)
            pattern = escape_like(f.value)
            pattern = f"{pattern}%" if f.op is Op.STARTSWITH else f"%{pattern}%"
            params[base] = pattern
            shape.append((column.name, f.op, 1))
            continue
        if f.op in LIST_OPS and isinstance(f.value, Subquery):
            sub, sub_params = _prepare_subquery(f.value, f"{base}q", keyring)
            params.update(sub_params)
            shape.append((column.name, f.op, sub))
            continue
        adapter = mapper.adapter(f.field)
        if f.op in LIST_OPS:
            values = list(f.value) if isinstance(f.value, list | tuple | set | frozenset) else None
            if values is None:
                raise InvalidInput.for_field(f.field, "a list of values is required")
            if len(values) > MAX_LIST_VALUES:
                raise InvalidInput.for_field(f.field, f"at most {MAX_LIST_VALUES} values")
            for i, value in enumerate(values):
                params[f"{base}_{i}"] = _coerce(adapter, f.field, value, column)
            shape.append((column.name, f.op, len(values)))
            continue
        params[base] = _coerce(adapter, f.field, f.value, column)
        shape.append((column.name, f.op, 1))
    return FilterSet(tuple(shape), params)


def _check_encrypted(f: Filter, mapper: EntityMapper[Any]) -> EncryptedField | None:
    """The encrypted field ``f`` filters on, if any, once checked that ``f`` can
    (equality on a blind index, or ``is_null``); else :class:`InvalidInput`."""
    column = mapper.column_for(f.field)
    encrypted = None if column is None else mapper.encrypted(column.name)
    if encrypted is None or f.op is Op.IS_NULL:
        return encrypted
    if encrypted.blind_index is None:
        raise InvalidInput.for_field(
            f.field, "an encrypted field cannot be filtered on (it has no blind index)"
        )
    if f.op not in EQUALITY_OPS or isinstance(f.value, Subquery):
        raise InvalidInput.for_field(
            f.field, "an encrypted field can only be compared for equality with values"
        )
    return encrypted


def _blind_index_values(
    f: Filter,
    mapper: EntityMapper[Any],
    encrypted: EncryptedField,
    keyring: Keyring | None,
    column: Column[Any],
) -> list[str]:
    """The blind-index digests of the filter's value (or values, for ``in``/``not_in``)."""
    if f.op in LIST_OPS:
        if not isinstance(f.value, list | tuple | set | frozenset):
            raise InvalidInput.for_field(f.field, "a list of values is required")
        values = list(f.value)
        if len(values) > MAX_LIST_VALUES:
            raise InvalidInput.for_field(f.field, f"at most {MAX_LIST_VALUES} values")
    else:
        values = [f.value]
    if keyring is None or mapper.encryption is None:
        raise TypeError("filters on an encrypted field need the database's keyring")
    adapter = mapper.adapter(f.field)
    index = mapper.encryption.index_value
    return [index(encrypted, _coerce(adapter, f.field, v, column), keyring) for v in values]


def _prepare_subquery(
    sub: Subquery, prefix: str, keyring: Keyring | None
) -> tuple[SubqueryShape, dict[str, Any]]:
    mapper = sub.repository.mapper()
    column = mapper.column_for(sub.field)
    if column is None:
        raise ValueError(f"{sub.repository.__name__} has no column for {sub.field!r}")
    nested = prepare_filters(sub.filters, mapper, None, prefix, keyring)
    return SubqueryShape(sub.repository, column.name, sub.include_deleted, nested.shape), (
        nested.params
    )


def _check_text(field: str, value: Any) -> None:
    # PostgreSQL text cannot hold NUL; refuse it on every database alike.
    if isinstance(value, str) and "\x00" in value:
        raise InvalidInput.for_field(field, "text must not contain NUL characters")
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise InvalidInput.for_field(field, SURROGATES) from None


def _coerce(adapter: Any, field: str, value: Any, column: Column[Any]) -> Any:
    _check_text(field, value)
    try:
        coerced = adapter.validate_python(value)
    except ValidationError as exc:
        if isinstance(value, str):
            try:
                coerced = adapter.validate_json(f'"{_json_escape(value)}"')
            except ValidationError:
                raise invalid_from_validation(field, exc) from None
        else:
            raise invalid_from_validation(field, exc) from None
    if coerced is None:
        raise InvalidInput.for_field(field, "use is_null to match missing values")
    if isinstance(coerced, datetime) and coerced.utcoffset() is None:
        raise InvalidInput.for_field(field, "a time zone is required (e.g. 'Z' or '+02:00')")
    bounds = integer_range(column)
    if bounds is not None and isinstance(coerced, int) and not bounds[0] <= coerced <= bounds[1]:
        raise InvalidInput.for_field(field, f"must be between {bounds[0]} and {bounds[1]}")
    return storable(coerced, column)


def _json_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def build_filter_clauses(
    shape: FilterShape, columns: Columns, prefix: str
) -> list[ColumnElement[bool]]:
    """SQL conditions for a filter shape, with parameters named as :func:`prepare_filters` does."""
    out: list[ColumnElement[bool]] = []
    for index, (name, op, count) in enumerate(shape):
        base = f"{prefix}{index}"
        if isinstance(count, tuple):  # Op.ANY: its alternatives
            out.append(or_(*build_filter_clauses(count, columns, f"{base}o")))
            continue
        col = columns[name]
        if op is Op.IS_NULL:
            out.append(col.is_(None) if count else col.is_not(None))
        elif isinstance(count, SubqueryShape):
            values = _subquery_select(count, f"{base}q")
            out.append(col.in_(values) if op is Op.IN else col.not_in(values))
        elif op in LIST_OPS:
            params = [bindparam(f"{base}_{i}", type_=col.type) for i in range(count)]
            if not params:
                out.append(false() if op is Op.IN else not_(false()))
            else:
                out.append(col.in_(params) if op is Op.IN else col.not_in(params))
        elif op is Op.ICONTAINS:
            out.append(col.ilike(bindparam(base, type_=col.type), escape="\\"))
        elif op in TEXT_OPS:
            out.append(col.like(bindparam(base, type_=col.type), escape="\\"))
        else:
            param = bindparam(base, type_=col.type)
            out.append(_COMPARE[op](col, param))
    return out


def _subquery_select(shape: SubqueryShape, prefix: str) -> Any:
    table = shape.repository.table()
    selected = table.c[shape.column]
    visibility = "all" if shape.include_deleted else "live"
    return select(selected).where(
        selected.is_not(None),  # NOT IN would match nothing if the subquery held a NULL
        *shape.repository.visibility_clauses(visibility),
        *build_filter_clauses(shape.filters, table.c, prefix),
    )


_COMPARE = {
    Op.EQ: lambda c, p: c == p,
    Op.NE: lambda c, p: c != p,
    Op.LT: lambda c, p: c < p,
    Op.LE: lambda c, p: c <= p,
    Op.GT: lambda c, p: c > p,
    Op.GE: lambda c, p: c >= p,
}


def parse_order(
    order_by: Sequence[str],
    mapper: EntityMapper[Any],
    allowed: frozenset[str],
    default: Sequence[str],
    pk: str,
) -> OrderShape:
    """``["-created_at", "title"]`` → ``(("created_at", True), ("title", False), ("id", True))``.

    Fields must be in ``allowed`` (the primary key always is). The primary key
    is appended as the tie-breaker, in the direction of the first key, so keyset
    pages stay exact when sort values tie (G6).
    """
    spec = list(order_by) or list(default)
    out: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for item in spec:
        if not isinstance(item, str) or not item.strip():
            raise InvalidInput.for_field("sort", "empty sort field")
        desc = item.startswith("-")
        field = item.lstrip("+-").strip()
        column = mapper.column_for(field)
        if column is not None and mapper.encrypted(column.name) is not None:
            raise InvalidInput.for_field("sort", f"{field!r} is encrypted and cannot be sorted by")
        if (field not in allowed and field != pk) or column is None:
            raise InvalidInput.for_field("sort", f"sorting by {field!r} is not allowed")
        if column.name in seen:
            continue
        seen.add(column.name)
        out.append((column.name, desc))
    if pk not in seen:
        out.append((pk, out[0][1] if out else False))
    return tuple(out)


def order_clauses(shape: OrderShape, columns: Columns) -> list[Any]:
    """ORDER BY terms; NULL sorts as the smallest value on every database."""
    terms: list[Any] = []
    for name, desc in shape:
        col = columns[name]
        term = col.desc() if desc else col.asc()
        if col.nullable:
            term = term.nulls_last() if desc else term.nulls_first()
        terms.append(term)
    return terms


def keyset_clause(
    shape: OrderShape, columns: Columns, nulls: tuple[bool, ...], prefix: str
) -> ColumnElement[bool]:
    """The condition "comes after the cursor row" for an ordering.

    ``nulls[i]`` says whether the cursor's i-th value is NULL (part of the
    statement's shape). Uses a row-value comparison when every key runs the
    same way and none can be NULL, which lets the index do the work.
    """
    cols = [columns[name] for name, _ in shape]
    params = [bindparam(f"{prefix}{i}", type_=c.type) for i, c in enumerate(cols)]
    directions = {desc for _, desc in shape}
    if len(directions) == 1 and not any(c.nullable for c in cols):
        left, right = tuple_(*cols), tuple_(*params)
        return left < right if shape[0][1] else left > right
    alternatives: list[ColumnElement[bool]] = []
    for i, (col, (_, desc)) in enumerate(zip(cols, shape, strict=True)):
        equal_before = [cols[j].is_(None) if nulls[j] else cols[j] == params[j] for j in range(i)]
        after = _after(col, params[i], desc, nulls[i])
        if after is None:
            continue
        alternatives.append(and_(*equal_before, after))
    return or_(*alternatives) if alternatives else false()


def _after(col: Column[Any], param: Any, desc: bool, is_null: bool) -> Any:
    # NULL is the smallest value: ascending, it comes first; descending, last.
    if is_null:
        return None if desc else col.is_not(None)
    if desc:
        return or_(col < param, col.is_(None)) if col.nullable else col < param
    return col > param
