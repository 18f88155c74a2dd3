"""lamina.validation: records checked against a JSON Schema and field rules declared as data."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError

from lamina.validation import (
    BrokenRule,
    JsonSchema,
    RecordRules,
    check_records,
)


class Definition(BaseModel):
    schema_definition: JsonSchema = Field(default_factory=lambda: {"type": "object"})
    validation_rules: RecordRules = Field(default_factory=list)


def broken(definition: Definition, record: Any) -> list[tuple[str, str]]:
    report = check_records(
        [record], schema=definition.schema_definition, rules=definition.validation_rules
    )
    return [(e.path, e.rule) for e in report.results[0].errors]


RULES = [
    {"kind": "required", "field": "customer.id"},
    {"kind": "range", "field": "amount", "min": 0, "max": 1000},
    {"kind": "format", "field": "currency", "pattern": "[A-Z]{3}"},
    {"kind": "enum", "field": "channel", "values": ["web", "shop"]},
    {"kind": "compare", "field": "starts", "op": "<", "other": "ends"},
]


def test_a_record_keeping_every_rule_is_valid() -> None:
    definition = Definition(validation_rules=RULES)  # type: ignore[arg-type]
    good = {"customer": {"id": 7}, "amount": 10, "currency": "EUR", "channel": "web"}
    report = check_records([{**good, "starts": 1, "ends": 2}], rules=definition.validation_rules)
    assert report.model_dump() == {"results": [{"index": 0, "valid": True, "errors": []}]}


def test_each_broken_rule_is_reported_with_its_path_and_kind() -> None:
    definition = Definition(validation_rules=RULES)  # type: ignore[arg-type]
    bad = {"customer": {}, "amount": 5000, "currency": "euro", "channel": "fax"}
    assert broken(definition, {**bad, "starts": 3, "ends": 2}) == [
        ("customer.id", "required"),
        ("amount", "range"),
        ("currency", "format"),
        ("channel", "enum"),
        ("starts", "compare"),
    ]


def test_only_required_asks_for_a_value() -> None:
    definition = Definition(validation_rules=RULES)  # type: ignore[arg-type]
    assert broken(definition, {"amount": None}) == [("customer.id", "required")]
    assert broken(definition, {"customer": {"id": None}}) == [("customer.id", "required")]


@pytest.mark.parametrize(
    ("value", "kept"),
    [(0, True), (1000.0, True), (-1, False), (True, False), ("5", False), (1001, False)],
)
def test_range_takes_numbers_only_and_not_booleans(value: Any, kept: bool) -> None:
    definition = Definition(
        validation_rules=[{"kind": "range", "field": "n", "min": 0, "max": 1000}]
    )  # type: ignore[list-item]
    assert (broken(definition, {"n": value}) == []) is kept


def test_format_matches_the_whole_text() -> None:
    definition = Definition(
        validation_rules=[{"kind": "format", "field": "c", "pattern": "[A-Z]{3}"}]
    )  # type: ignore[list-item]
    assert broken(definition, {"c": "EUR"}) == []
    assert broken(definition, {"c": "EURO"}) == [("c", "format")]
    assert broken(definition, {"c": 123}) == [("c", "format")]


def test_compare_needs_two_numbers_or_two_texts() -> None:
    rule = {"kind": "compare", "field": "a", "op": "<=", "other": "b"}
    definition = Definition(validation_rules=[rule])  # type: ignore[list-item]
    assert broken(definition, {"a": "abc", "b": "abd"}) == []
    assert broken(definition, {"a": 2, "b": 2.0}) == []
    assert broken(definition, {"a": 1, "b": "2"}) == [("a", "compare")]
    assert broken(definition, {"a": 1}) == [("a", "compare")]


def test_schema_errors_come_first_with_the_path_of_the_value() -> None:
    schema = {
        "type": "object",
        "properties": {
            "customer": {"type": "object", "required": ["id"]},
            "lines": {"type": "array", "items": {"properties": {"qty": {"type": "integer"}}}},
        },
        "required": ["amount"],
    }
    definition = Definition(
        schema_definition=schema,  # type: ignore[arg-type]
        validation_rules=[{"kind": "required", "field": "x"}],  # type: ignore[list-item]
    )
    record = {"customer": {}, "lines": [{"qty": 1}, {"qty": "two"}]}
    assert sorted(broken(definition, record)) == [
        ("amount", "schema"),
        ("customer.id", "schema"),
        ("lines.1.qty", "schema"),
        ("x", "required"),
    ]
    assert broken(definition, {"amount": 1, "x": 0}) == []


def test_records_are_reported_in_the_order_they_came() -> None:
    rules = Definition(validation_rules=[{"kind": "required", "field": "a"}]).validation_rules  # type: ignore[list-item]
    report = check_records([{"a": 1}, {}, {"a": 2}], rules=rules)
    assert [(r.index, r.valid) for r in report.results] == [(0, True), (1, False), (2, True)]
    assert report.results[1].errors == [
        BrokenRule(path="a", rule="required", message="is required")
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"schema_definition": {"type": 12}},
        {"validation_rules": [{"kind": "format", "field": "a"}]},
        {"validation_rules": [{"kind": "format", "field": "a", "pattern": "(unclosed"}]},
        {"validation_rules": [{"kind": "range", "field": "a", "min": float("nan")}]},
        {"validation_rules": [{"kind": "enum", "field": "a", "values": []}]},
        {"validation_rules": [{"kind": "compare", "field": "a", "op": "~", "other": "b"}]},
        {"validation_rules": [{"kind": "required", "field": "a..b"}]},
        {"validation_rules": [{"kind": "unknown", "field": "a"}]},
        {"validation_rules": [{"kind": "required", "field": "a"}] * 101},
    ],
)
def test_a_bad_schema_or_rule_is_refused_when_the_definition_is_made(
    bad: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError):
        Definition(**bad)


def test_rules_round_trip_through_json() -> None:
    definition = Definition(validation_rules=RULES)  # type: ignore[arg-type]
    again = Definition.model_validate_json(definition.model_dump_json())
    assert again == definition
    assert [r.kind for r in again.validation_rules] == [
        "required",
        "range",
        "format",
        "enum",
        "compare",
    ]
