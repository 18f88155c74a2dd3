"""Checking data records against rules users declare: a JSON Schema document and field rules
(required, range, format, enum, compare), both stored as fields of an entity.

    from lamina.validation import JsonSchema, RecordRule, check_records

    class RecordType(StandardEntity):
        schema_definition: JsonSchema = Field(default_factory=lambda: {"type": "object"})
        validation_rules: RecordRules = Field(default_factory=list)  # up to 100

    report = check_records(records, schema=t.schema_definition, rules=t.validation_rules)

A rule or schema that is not valid is refused when the entity is made (422 over HTTP); the
report (a :class:`RecordReport`, a service method's answer as it is) gives per record whether
it is valid and the rules it breaks, each with the dotted path of the value.
"""

from lamina.validation.checking import check_records
from lamina.validation.json_schema import JsonSchema
from lamina.validation.report import BrokenRule, RecordReport, RecordResult
from lamina.validation.rules import (
    Compare,
    FieldPath,
    FieldRule,
    Format,
    OneOf,
    Range,
    RecordRule,
    RecordRules,
    Required,
)

__all__ = [
    "BrokenRule",
    "Compare",
    "FieldPath",
    "FieldRule",
    "Format",
    "JsonSchema",
    "OneOf",
    "Range",
    "RecordReport",
    "RecordResult",
    "RecordRule",
    "RecordRules",
    "Required",
    "check_records",
]
