"""Entities and events of the ETL registry: pure Pydantic, apart from the SQLModel tables.

The seed's three base models (components, dataclass definitions, jobs) and what hangs off
them, each in a project whose members are owners, editors or viewers.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from jsonschema import Draft202012Validator, SchemaError
from pydantic import AfterValidator, Field, JsonValue, StringConstraints

from lamina.domain import (
    READ_ONLY,
    ActorTracked,
    DomainEvent,
    Entity,
    Name,
    References,
    SecretConfiguration,
    SoftDeletable,
    StandardEntity,
    Timestamped,
    Unique,
    ValueObject,
)
from lamina.security import Account

TAG = r"^[a-z0-9][a-z0-9_.-]{0,49}$"
TagName = Annotated[str, StringConstraints(pattern=TAG.replace("a-z", "A-Za-z"))]
"""A tag as a path gives it: any case (tags are stored in lower case)."""


class Role(enum.StrEnum):
    OWNER = "owner"
    EDITOR = "editor"
    VIEWER = "viewer"


class ComponentType(enum.StrEnum):
    EXTRACTOR = "extractor"
    TRANSFORMER = "transformer"
    LOADER = "loader"
    VALIDATOR = "validator"


class ComponentStatus(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    DEPRECATED = "deprecated"


class DataclassType(enum.StrEnum):
    RECORD = "record"
    EVENT = "event"
    REFERENCE = "reference"


class StrategyType(enum.StrEnum):
    SEQUENTIAL = "sequential"
    PARALLEL = "parallel"
    CONDITIONAL = "conditional"


class ExecutionStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class User(Account):
    """A user of the registry: lamina's account fields."""


class Project(StandardEntity, SoftDeletable):
    name: Name


InProject = Annotated[UUID, READ_ONLY, References(Project)]


class Membership(StandardEntity):
    project_id: InProject
    user_id: Annotated[UUID, References(User), Unique("project_id")]  # changes: the role only
    role: Role = Role.VIEWER


class Component(StandardEntity, SoftDeletable, SecretConfiguration):
    project_id: InProject
    name: Annotated[Name, Unique("project_id")]
    component_type: ComponentType
    status: ComponentStatus = ComponentStatus.DRAFT


class Dependency(Entity, Timestamped, ActorTracked):
    project_id: InProject
    component_id: Annotated[UUID, References(Component)]
    depends_on_id: Annotated[UUID, References(Component), Unique("component_id")]


class Metric(Entity):
    project_id: InProject
    component_id: Annotated[UUID, References(Component)]
    name: Name
    value: Annotated[float, Field(allow_inf_nan=False)]
    unit: Annotated[str, StringConstraints(max_length=20)] = ""
    recorded_at: datetime


Path = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*$", max_length=200)
]


def compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return pattern


Number = Annotated[float, Field(allow_inf_nan=False)]


class Required(ValueObject):
    """``field`` (a dotted path into a record) must be there, and not null."""

    kind: Literal["required"]
    field: Path


class Range(ValueObject):
    kind: Literal["range"]
    field: Path
    min: Number | None = None
    max: Number | None = None


class Format(ValueObject):
    kind: Literal["format"]
    field: Path
    pattern: Annotated[str, StringConstraints(max_length=200), AfterValidator(compiles)]


class OneOf(ValueObject):
    kind: Literal["enum"]
    field: Path
    values: Annotated[list[JsonValue], Field(min_length=1, max_length=100)]


class Compare(ValueObject):
    """``field`` ``op`` ``other``, both numbers or both text."""

    kind: Literal["compare"]
    field: Path
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    other: Path


Rule = Annotated[Required | Range | Format | OneOf | Compare, Field(discriminator="kind")]


def a_json_schema(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        raise ValueError(f"not a JSON Schema: {exc.message}") from None
    return value


JsonSchema = Annotated[dict[str, JsonValue], AfterValidator(a_json_schema)]


class DataclassDefinition(StandardEntity, SoftDeletable):
    project_id: InProject
    name: Annotated[Name, Unique("project_id")]
    dataclass_type: DataclassType
    schema_definition: JsonSchema = Field(default_factory=lambda: {"type": "object"})
    validation_rules: Annotated[list[Rule], Field(max_length=100)] = Field(default_factory=list)
    component_id: Annotated[UUID | None, References(Component)] = None  # its producer (one each)


class Job(StandardEntity, SoftDeletable):
    project_id: InProject
    name: Annotated[Name, Unique("project_id")]
    num_of_retries: Annotated[int, Field(ge=0, le=10)] = 0
    file_logging: bool = False
    strategy_type: StrategyType = StrategyType.SEQUENTIAL


class JobStep(Entity, Timestamped):
    project_id: InProject
    job_id: Annotated[UUID, References(Job)]
    component_id: Annotated[UUID, References(Component)]
    position: Annotated[int, Field(ge=1), Unique("job_id")]


class Tag(StandardEntity):
    project_id: InProject
    name: Annotated[str, StringConstraints(pattern=TAG, max_length=50), Unique("project_id")]


class JobTag(Entity):
    project_id: InProject
    job_id: Annotated[UUID, References(Job)]
    tag_id: Annotated[UUID, References(Tag), Unique("job_id")]


class JobExecution(StandardEntity):
    project_id: InProject
    job_id: Annotated[UUID, READ_ONLY, References(Job)]
    status: Annotated[ExecutionStatus, READ_ONLY] = ExecutionStatus.QUEUED
    attempt: Annotated[int, READ_ONLY] = 1
    started_at: Annotated[datetime | None, READ_ONLY] = None
    finished_at: Annotated[datetime | None, READ_ONLY] = None
    error: Annotated[str, READ_ONLY, StringConstraints(max_length=2000)] = ""
    rows_read: Annotated[int, READ_ONLY, Field(ge=0, le=2**62)] = 0  # a BIGINT column
    rows_written: Annotated[int, READ_ONLY, Field(ge=0, le=2**62)] = 0


class ExecutionEvent(DomainEvent):
    job_execution_id: UUID
    job_id: UUID


class ExecutionStarted(ExecutionEvent, type="job.execution.started", stream="job_id"):
    attempt: int


class ExecutionSucceeded(ExecutionEvent, type="job.execution.succeeded", stream="job_id"):
    rows_read: int
    rows_written: int


class ExecutionFailed(ExecutionEvent, type="job.execution.failed", stream="job_id"):
    error: str
