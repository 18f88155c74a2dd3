"""Rules on the fields of a record, declared as data (stored with the entity that owns them).

Each rule names a ``field`` by its dotted path into the record (``customer.id``). Only
:class:`Required` asks for the value to be there: the others pass when it is missing or null.
"""

from __future__ import annotations

import operator
import re
from abc import abstractmethod
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, JsonValue, StringConstraints

from lamina.domain import ValueObject

FieldPath = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$", max_length=200)
]
"""A dotted path into a record: ``amount``, ``customer.id``."""

_Number = Annotated[float, Field(allow_inf_nan=False)]
_MISSING = object()
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def value_at(record: Any, path: str) -> Any:
    """The value at the dotted ``path`` of ``record``, or ``MISSING``."""
    for part in path.split("."):
        if not isinstance(record, dict) or part not in record:
            return _MISSING
        record = record[part]
    return record


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return pattern


class FieldRule(ValueObject):
    """A rule about the value at ``field``; subclasses say what it must be (:meth:`refuse`)."""

    kind: str
    field: FieldPath
    asks_for_a_value: ClassVar[bool] = False
    """Whether a missing or null value breaks the rule (else the rule keeps it)."""

    def broken_by(self, record: Any) -> str | None:
        """Why ``record`` breaks this rule, or None when it keeps it."""
        value = value_at(record, self.field)
        if value is _MISSING or value is None:
            return "is required" if self.asks_for_a_value else None
        return self.refuse(value, record)

    @abstractmethod
    def refuse(self, value: Any, record: Any) -> str | None:
        """Why ``value`` (there and not null) breaks the rule, or None."""


class Required(FieldRule):
    """The field must be there, and not null."""

    kind: Literal["required"]
    asks_for_a_value: ClassVar[bool] = True

    def refuse(self, value: Any, record: Any) -> str | None:
        return None  # there, and not null


class Range(FieldRule):
    """A number from ``min`` to ``max`` (either may be left open)."""

    kind: Literal["range"]
    min: _Number | None = None
    max: _Number | None = None

    def refuse(self, value: Any, record: Any) -> str | None:
        low = -float("inf") if self.min is None else self.min
        high = float("inf") if self.max is None else self.max
        ok = _is_number(value) and low <= value <= high
        return None if ok else f"must be a number from {self.min} to {self.max}"


class Format(FieldRule):
    """Text matching the regular expression ``pattern`` in full.

    The pattern is the rule author's: Python's ``re`` has no time limit, so let only
    trusted users (a project's editors) write rules.
    """

    kind: Literal["format"]
    pattern: Annotated[str, StringConstraints(max_length=200), AfterValidator(_compiles)]

    def refuse(self, value: Any, record: Any) -> str | None:
        ok = isinstance(value, str) and re.fullmatch(self.pattern, value) is not None
        return None if ok else f"must match {self.pattern}"


class OneOf(FieldRule):
    """One of ``values`` (JSON equality)."""

    kind: Literal["enum"]
    values: Annotated[list[JsonValue], Field(min_length=1, max_length=100)]

    def refuse(self, value: Any, record: Any) -> str | None:
        return None if value in self.values else f"must be one of {self.values}"


class Compare(FieldRule):
    """``field`` ``op`` ``other``: both numbers or both text (a cross-field rule)."""

    kind: Literal["compare"]
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    other: FieldPath

    def refuse(self, value: Any, record: Any) -> str | None:
        other = value_at(record, self.other)
        comparable = (_is_number(value) and _is_number(other)) or (
            isinstance(value, str) and isinstance(other, str)
        )
        if comparable and _COMPARISONS[self.op](value, other):
            return None
        return f"must be {self.op} {self.other}"


RecordRule = Annotated[Required | Range | Format | OneOf | Compare, Field(discriminator="kind")]
"""Any of the rules, told apart by ``kind``: ``required``, ``range``, ``format``, ``enum``,
``compare``. ``list[RecordRule]`` is a field of rules, stored as JSON."""

RecordRules = Annotated[list[RecordRule], Field(max_length=100)]
"""A field of up to 100 rules (``validation_rules: RecordRules = Field(default_factory=list)``)."""
