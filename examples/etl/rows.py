"""The tables, declared as SQLModel tables (the seed's base models) on lamina's registry."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from examples.etl import domain as d
from lamina.persistence import (
    SoftDeleteField,
    StandardFields,
    encrypted_field,
    enum_field,
    json_field,
    live_unique,
    new_registry,
    one_of,
)


class EtlTable(SQLModel, registry=new_registry()):
    """The service's tables: their own metadata and revision history."""


def ref(table: str, **options: Any) -> Any:
    return Field(foreign_key=f"etl_{table}.id", index=True, **options)


class UserRow(EtlTable, StandardFields, table=True):
    __tablename__ = "etl_users"
    username: str = Field(max_length=32, unique=True)
    email: str = Field(max_length=320, unique=True)
    display_name: str = Field(max_length=100)
    password_hash: str = Field(max_length=200)


class ProjectRow(EtlTable, StandardFields, SoftDeleteField, table=True):
    __tablename__ = "etl_projects"
    name: str = Field(max_length=100)


class MembershipRow(EtlTable, StandardFields, table=True):
    __tablename__ = "etl_memberships"
    __table_args__ = (UniqueConstraint("project_id", "user_id"), one_of("role", d.Role))
    project_id: UUID = ref("projects")
    user_id: UUID = ref("users")
    role: str = enum_field(d.Role)


class ComponentRow(EtlTable, StandardFields, SoftDeleteField, table=True):
    __tablename__ = "etl_components"
    __table_args__ = (
        live_unique("uq_etl_components_live_name", "project_id", "name"),
        one_of("component_type", d.ComponentType),
        one_of("status", d.ComponentStatus),
    )
    project_id: UUID = ref("projects")
    name: str = Field(max_length=100)
    component_type: str = enum_field(d.ComponentType)
    status: str = enum_field(d.ComponentStatus)
    configuration: dict[str, Any] = json_field()
    secret_keys: list[str] = json_field(list)
    secrets: str = encrypted_field()


class DependencyRow(EtlTable, table=True):
    __tablename__ = "etl_dependencies"
    __table_args__ = (UniqueConstraint("component_id", "depends_on_id"),)
    id: UUID = Field(primary_key=True)
    project_id: UUID = ref("projects")
    component_id: UUID = ref("components")
    depends_on_id: UUID = ref("components")
    created_at: datetime
    updated_at: datetime
    created_by_id: UUID | None = None
    updated_by_id: UUID | None = None


class MetricRow(EtlTable, table=True):
    __tablename__ = "etl_metrics"
    __table_args__ = (Index("ix_etl_metrics_component_time", "component_id", "recorded_at", "id"),)
    id: UUID = Field(primary_key=True)
    project_id: UUID = Field(foreign_key="etl_projects.id")
    component_id: UUID = Field(foreign_key="etl_components.id")
    name: str = Field(max_length=100)
    value: float
    unit: str = Field(max_length=20)
    recorded_at: datetime


class DataclassRow(EtlTable, StandardFields, SoftDeleteField, table=True):
    __tablename__ = "etl_dataclasses"
    __table_args__ = (
        live_unique("uq_etl_dataclasses_live_name", "project_id", "name"),
        live_unique("uq_etl_dataclasses_live_component", "component_id"),
        one_of("dataclass_type", d.DataclassType),
    )
    project_id: UUID = ref("projects")
    name: str = Field(max_length=100)
    dataclass_type: str = enum_field(d.DataclassType)
    schema_definition: dict[str, Any] = json_field()
    validation_rules: list[Any] = json_field(list)
    component_id: UUID | None = Field(default=None, foreign_key="etl_components.id")


class JobRow(EtlTable, StandardFields, SoftDeleteField, table=True):
    __tablename__ = "etl_jobs"
    __table_args__ = (
        live_unique("uq_etl_jobs_live_name", "project_id", "name"),
        CheckConstraint("num_of_retries BETWEEN 0 AND 10", name="num_of_retries_range"),
        one_of("strategy_type", d.StrategyType),
    )
    project_id: UUID = ref("projects")
    name: str = Field(max_length=100)
    num_of_retries: int = 0
    file_logging: bool = False
    strategy_type: str = enum_field(d.StrategyType)


class JobStepRow(EtlTable, table=True):
    __tablename__ = "etl_job_steps"
    __table_args__ = (UniqueConstraint("job_id", "position"),)
    id: UUID = Field(primary_key=True)
    project_id: UUID = Field(foreign_key="etl_projects.id")
    job_id: UUID = Field(foreign_key="etl_jobs.id")
    component_id: UUID = ref("components")
    position: int
    created_at: datetime
    updated_at: datetime


class TagRow(EtlTable, StandardFields, table=True):
    __tablename__ = "etl_tags"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    project_id: UUID = Field(foreign_key="etl_projects.id")
    name: str = Field(max_length=50)


class JobTagRow(EtlTable, table=True):
    __tablename__ = "etl_job_tags"
    __table_args__ = (UniqueConstraint("job_id", "tag_id"),)
    id: UUID = Field(primary_key=True)
    project_id: UUID = Field(foreign_key="etl_projects.id")
    job_id: UUID = Field(foreign_key="etl_jobs.id")
    tag_id: UUID = ref("tags")


class ExecutionRow(EtlTable, StandardFields, table=True):
    __tablename__ = "etl_executions"
    __table_args__ = (one_of("status", d.ExecutionStatus),)
    project_id: UUID = Field(foreign_key="etl_projects.id")
    job_id: UUID = ref("jobs")
    status: str = enum_field(d.ExecutionStatus)
    attempt: int
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str = Field(max_length=2000)
    rows_read: int = Field(sa_type=BigInteger)
    rows_written: int = Field(sa_type=BigInteger)
