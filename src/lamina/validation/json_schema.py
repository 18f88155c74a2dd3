"""A JSON Schema document as a field type, and the errors of a record against one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from jsonschema import Draft202012Validator, SchemaError, ValidationError
from pydantic import AfterValidator, JsonValue

from lamina.validation.report import BrokenRule


def _a_json_schema(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        raise ValueError(f"not a JSON Schema: {exc.message}") from None
    return value


JsonSchema = Annotated[dict[str, JsonValue], AfterValidator(_a_json_schema)]
"""A JSON Schema (draft 2020-12) document; one that is not a valid schema is refused with
the reason (a 422 over HTTP). Stored as JSON like any ``dict`` field."""


def dotted(path: Iterable[Any]) -> str:
    """``["lines", 1, "qty"]`` as ``"lines.1.qty"``."""
    return ".".join(str(part) for part in path)


def _missing_property(error: ValidationError) -> list[str]:
    """The property a ``required`` error is about (jsonschema's path names its parent)."""
    named = error.validator_value if error.validator == "required" else None
    if not isinstance(named, list):
        return []
    return [p for p in named if repr(p) in error.message][:1]


def schema_errors(schema: Draft202012Validator, record: Any) -> list[BrokenRule]:
    """What ``record`` breaks of ``schema``, each with the dotted path of the value
    (``customer.id``, ``lines.1.qty``) and rule ``"schema"``."""
    return [
        BrokenRule(
            path=dotted([*error.absolute_path, *_missing_property(error)]),
            rule="schema",
            message=error.message,
        )
        for error in schema.iter_errors(record)
    ]
