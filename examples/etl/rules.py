"""Checking records against a dataclass definition: its JSON Schema, then its rules."""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from examples.etl.domain import DataclassDefinition, Rule

MISSING = object()
COMPARE = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def dotted(path: Iterable[Any]) -> str:
    return ".".join(str(part) for part in path)


def value_at(record: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(record, dict) or part not in record:
            return MISSING
        record = record[part]
    return record


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def broken(rule: Rule, record: Any) -> str | None:
    """What ``record`` breaks of ``rule``, or None."""
    value = value_at(record, rule.field)
    if rule.kind == "required":
        return "is required" if value is MISSING or value is None else None
    if value is MISSING or value is None:
        return None  # only "required" asks for a value
    if rule.kind == "range":
        low = -float("inf") if rule.min is None else rule.min
        high = float("inf") if rule.max is None else rule.max
        ok = is_number(value) and low <= value <= high
        return None if ok else f"must be a number from {rule.min} to {rule.max}"
    if rule.kind == "format":
        ok = isinstance(value, str) and re.fullmatch(rule.pattern, value) is not None
        return None if ok else f"must match {rule.pattern}"
    if rule.kind == "enum":
        return None if value in rule.values else f"must be one of {rule.values}"
    other = value_at(record, rule.other)
    comparable = (is_number(value) and is_number(other)) or (
        isinstance(value, str) and isinstance(other, str)
    )
    if comparable and COMPARE[rule.op](value, other):
        return None
    return f"must be {rule.op} {rule.other}"


def missing(error: ValidationError) -> list[str]:
    """The property a ``required`` error is about (the path names its parent)."""
    if error.validator != "required":
        return []
    named = [p for p in error.validator_value if repr(p) in error.message]
    return named[:1]


def broken_rules(definition: DataclassDefinition, record: Any) -> list[dict[str, str]]:
    """The schema errors and broken rules of ``record``, each with its path."""
    schema = Draft202012Validator(definition.schema_definition)
    errors = [
        {"path": dotted([*e.absolute_path, *missing(e)]), "rule": "schema", "message": e.message}
        for e in schema.iter_errors(record)
    ]
    for rule in definition.validation_rules:
        message = broken(rule, record)
        if message is not None:
            errors.append({"path": rule.field, "rule": rule.kind, "message": message})
    return errors
