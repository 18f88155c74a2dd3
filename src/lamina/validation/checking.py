"""Checking records against a JSON Schema and field rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import JsonValue

from lamina.validation.json_schema import schema_errors
from lamina.validation.report import BrokenRule, RecordReport, RecordResult
from lamina.validation.rules import FieldRule


def check_records(
    records: Sequence[Any],
    *,
    schema: dict[str, JsonValue] | None = None,
    rules: Sequence[FieldRule] = (),
) -> RecordReport:
    """What each record breaks, reported by its index: the ``schema``'s errors (a JSON
    Schema document) first, then each broken rule, every one with the path it is about.

    >>> check_records([{"amount": -1}], rules=[Range(kind="range", field="amount", min=0)])
    ... # results[0].errors == [BrokenRule(path="amount", rule="range", ...)]
    """
    validator = Draft202012Validator(schema) if schema is not None else None
    results = []
    for index, record in enumerate(records):
        errors = schema_errors(validator, record) if validator is not None else []
        for rule in rules:
            message = rule.broken_by(record)
            if message is not None:
                errors.append(BrokenRule(path=rule.field, rule=rule.kind, message=message))
        results.append(RecordResult(index=index, valid=not errors, errors=errors))
    return RecordReport(results=results)
