"""Entities and events of the ETL registry (pure Pydantic, apart from the SQLModel tables): the
seed's base models and what hangs off them, each in a project of owners, editors and viewers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from lamina.domain import (
    IMMUTABLE,
    READ_ONLY,
    ActorTracked,
    DomainEvent,
    Entity,
    Name,
    Numbered,
    References,
    SecretConfiguration,
    SoftDeletable,
    StandardEntity,
    Timestamped,
    Unique,
)
from lamina.security import Account
from lamina.validation import JsonSchema, RecordRules

TAG = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$"  # any case, stored in lower case
TagName = Annotated[str, StringConstraints(pattern=TAG, to_lower=True, max_length=50)]


StrategyType = Literal["sequential", "parallel", "conditional"]
ExecutionStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class User(Account):
    """A user of the registry: lamina's account fields."""


class Project(StandardEntity, SoftDeletable):
    name: Name


InProject = Annotated[UUID, READ_ONLY, References(Project)]


class Membership(StandardEntity):
    project_id: InProject
    user_id: Annotated[UUID, References(User), Unique("project_id"), IMMUTABLE]
    role: Literal["owner", "editor", "viewer"] = "viewer"


class Component(StandardEntity, SoftDeletable, SecretConfiguration):
    project_id: InProject
    name: Annotated[Name, Unique("project_id")]
    component_type: Literal["extractor", "transformer", "loader", "validator"]
    status: Literal["draft", "active", "deprecated"] = "draft"


class Dependency(Entity, Timestamped, ActorTracked):
    project_id: InProject
    component_id: Annotated[UUID, References(Component)]
    depends_on_id: Annotated[UUID, References(Component), Unique("component_id")]


class Metric(Entity):
    project_id: InProject  # the component's
    component_id: Annotated[UUID, References(Component, within="project_id")]
    name: Name
    value: Annotated[float, Field(allow_inf_nan=False)]
    unit: Annotated[str, StringConstraints(max_length=20)] = ""
    recorded_at: datetime


class DataclassDefinition(StandardEntity, SoftDeletable):
    project_id: InProject
    name: Annotated[Name, Unique("project_id")]
    dataclass_type: Literal["record", "event", "reference"]
    schema_definition: JsonSchema = Field(default_factory=lambda: {"type": "object"})
    validation_rules: RecordRules = Field(default_factory=list)
    component_id: Annotated[UUID | None, References(Component, within="project_id")] = None


class Job(StandardEntity, SoftDeletable):
    project_id: InProject
    name: Annotated[Name, Unique("project_id")]
    num_of_retries: Annotated[int, Field(ge=0, le=10)] = 0
    file_logging: bool = False
    strategy_type: StrategyType = "sequential"


class JobStep(Entity, Timestamped):
    project_id: InProject
    job_id: Annotated[UUID, References(Job)]
    component_id: Annotated[UUID, References(Component)]
    position: Annotated[int, Field(ge=1), Unique("job_id")]


class Tag(StandardEntity):
    project_id: InProject
    name: Annotated[TagName, Unique("project_id")]


class JobTag(Entity):
    project_id: InProject
    job_id: Annotated[UUID, References(Job)]
    tag_id: Annotated[UUID, References(Tag), Unique("job_id")]


class JobExecution(StandardEntity):
    project_id: InProject
    job_id: Annotated[UUID, READ_ONLY, References(Job, within="project_id")]
    status: Annotated[ExecutionStatus, READ_ONLY] = "queued"
    attempt: Annotated[int, READ_ONLY, Numbered("job_id")] = 1  # its job's 1st, 2nd…
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
