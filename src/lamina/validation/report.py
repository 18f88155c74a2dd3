"""What checking records answers: per record, valid or the rules it breaks."""

from __future__ import annotations

from pydantic import BaseModel


class BrokenRule(BaseModel):
    """One rule a record breaks: where (a dotted path), which rule, and why."""

    path: str
    rule: str
    message: str


class RecordResult(BaseModel):
    """The check of the record at ``index`` of those sent."""

    index: int
    valid: bool
    errors: list[BrokenRule]


class RecordReport(BaseModel):
    """The checks of a batch of records, in the order they came."""

    results: list[RecordResult]
