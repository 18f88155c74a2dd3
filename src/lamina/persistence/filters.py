"""Typed filters on declared fields: ``where("status") == "open"``, ``where("t").icontains("x")``.

A filter names a field, an operator and a value. Repositories accept filters on
the fields they declare as ``filterable`` only, validate each value against the
field's type, and bind it as a parameter: it never becomes part of the SQL (G5).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lamina.domain.errors import InvalidInput


class Op(enum.StrEnum):
    """Filter operators; their values are the query-string suffixes (``title__icontains``)."""

    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    ICONTAINS = "icontains"
    STARTSWITH = "startswith"
    IS_NULL = "is_null"
    ANY = "any"
    """One of the filters in the value holds (made by :func:`any_of`; not a query suffix)."""


TEXT_OPS = frozenset({Op.CONTAINS, Op.ICONTAINS, Op.STARTSWITH})
LIST_OPS = frozenset({Op.IN, Op.NOT_IN})
EQUALITY_OPS = frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.IS_NULL})
"""What a blind-indexed encrypted field can be filtered with."""


@dataclass(frozen=True, slots=True)
class Subquery:
    """The values of ``field`` in the rows of a repository's table that match ``filters``.

    Made by ``Repository.subquery(field, *filters)``; used as the value of an
    ``in_`` / ``not_in`` filter, it becomes part of the same statement::

        my_workspaces = Memberships.subquery("workspace_id", where("user_id") == me)
        await Conversations(db).list(where("workspace_id").in_(my_workspaces))

    Soft-deleted rows are left out unless ``include_deleted``; ``filters`` are
    the application's own (any field, no ``filterable`` check) and are bound as
    parameters like every filter value (G5).
    """

    repository: Any
    """The repository class whose table is read (a ``ReadOnlyRepository`` subclass)."""
    field: str
    filters: tuple[Filter, ...] = ()
    include_deleted: bool = False

    async def contains(self, target: Any, value: Any) -> bool:
        """True if ``value`` is among the values selected, read with ``target`` (a
        ``Database`` or ``UnitOfWork``) in one query: ``await mine.contains(uow, id)``."""
        return bool(await self.repository(target)._holds(self, value))


@dataclass(frozen=True, slots=True)
class Filter:
    """One condition: ``field`` ``op`` ``value``."""

    field: str
    op: Op
    value: Any

    @property
    def fields(self) -> frozenset[str]:
        """The fields this filter reads (every alternative's, for :func:`any_of`)."""
        if self.op is Op.ANY:
            return frozenset().union(*(f.fields for f in self.value))
        return frozenset({self.field})

    @classmethod
    def parse(cls, key: str, value: Any) -> Filter:
        """A filter from a query-string style key: ``status``, ``title__icontains``, ``score__ge``.

        ``in``/``not_in`` take a list or a comma-separated string. Raises
        :class:`InvalidInput` for an unknown operator.
        """
        field, sep, op_name = key.partition("__")
        try:
            op = Op(op_name) if sep else Op.EQ
            if op is Op.ANY:
                raise ValueError(op_name)
        except ValueError:
            raise InvalidInput.for_field(key, f"unknown filter operator {op_name!r}") from None
        if op in LIST_OPS and isinstance(value, str):
            value = [v for v in value.split(",") if v != ""]
        return cls(field, op, value)


class where:
    """Start a filter on ``field``; finish it with an operator or a method."""

    __slots__ = ("field",)

    def __init__(self, field: str) -> None:
        self.field = field

    def __eq__(self, value: object) -> Filter:  # type: ignore[override]
        return Filter(self.field, Op.EQ, value)

    def __ne__(self, value: object) -> Filter:  # type: ignore[override]
        return Filter(self.field, Op.NE, value)

    def __lt__(self, value: object) -> Filter:
        return Filter(self.field, Op.LT, value)

    def __le__(self, value: object) -> Filter:
        return Filter(self.field, Op.LE, value)

    def __gt__(self, value: object) -> Filter:
        return Filter(self.field, Op.GT, value)

    def __ge__(self, value: object) -> Filter:
        return Filter(self.field, Op.GE, value)

    __hash__ = None  # type: ignore[assignment]

    def in_(self, values: Iterable[Any] | Subquery) -> Filter:
        """The field's value is one of ``values`` (a list, or a :class:`Subquery`)."""
        return Filter(self.field, Op.IN, values if isinstance(values, Subquery) else list(values))

    def not_in(self, values: Iterable[Any] | Subquery) -> Filter:
        """The field's value is none of ``values`` (a list, or a :class:`Subquery`)."""
        return Filter(
            self.field, Op.NOT_IN, values if isinstance(values, Subquery) else list(values)
        )

    def contains(self, text: str) -> Filter:
        """The text contains ``text`` (case-sensitive on every database)."""
        return Filter(self.field, Op.CONTAINS, text)

    def icontains(self, text: str) -> Filter:
        """The text contains ``text``, ignoring case."""
        return Filter(self.field, Op.ICONTAINS, text)

    def startswith(self, text: str) -> Filter:
        """The text starts with ``text``."""
        return Filter(self.field, Op.STARTSWITH, text)

    def is_null(self, null: bool = True) -> Filter:
        """The field is NULL (or, with ``null=False``, is not)."""
        return Filter(self.field, Op.IS_NULL, null)


def any_of(*filters: Filter) -> Filter:
    """A filter that holds when at least one of ``filters`` does (SQL ``OR``)::

        where_visible = any_of(where("status") == "published", where("owner_id") == me)

    Each alternative is checked and bound like any filter; a scope may use one
    (reads: published courses or my own).
    """
    if not filters:
        raise ValueError("any_of needs at least one filter")
    for f in filters:
        if not isinstance(f, Filter):
            raise TypeError(f"expected a Filter, got {type(f).__name__}")
    return Filter("", Op.ANY, tuple(filters))
