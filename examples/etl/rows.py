"""The tables, declared as SQLModel tables (the seed's base models) on lamina's registry.

Each takes its fields, columns, foreign keys and CHECKs from its entity (``EntityFields``);
here is what an entity cannot say: table names, uniqueness and indexes.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import Index
from sqlmodel import Field

from examples.etl import domain as d
from lamina.persistence import EntityFields, live_unique, new_registry


class EtlTable(EntityFields, registry=new_registry()):
    """The service's tables: their own metadata and revision history."""


class UserRow(EtlTable, entity=d.User, tablename="etl_users", table=True): ...


class ProjectRow(EtlTable, entity=d.Project, tablename="etl_projects", table=True): ...


class MembershipRow(EtlTable, entity=d.Membership, tablename="etl_memberships", table=True): ...


class ComponentRow(EtlTable, entity=d.Component, tablename="etl_components", table=True): ...


class DependencyRow(EtlTable, entity=d.Dependency, tablename="etl_dependencies", table=True): ...


class MetricRow(EtlTable, entity=d.Metric, tablename="etl_metrics", table=True):
    """Ingested in bulk: one index, by component and time, and no other."""

    __table_args__ = (Index("ix_etl_metrics_component_time", "component_id", "recorded_at", "id"),)
    project_id: UUID = Field(foreign_key="etl_projects.id")
    component_id: UUID = Field(foreign_key="etl_components.id")


class DataclassRow(EtlTable, entity=d.DataclassDefinition, tablename="etl_dataclasses", table=True):
    __table_args__ = (live_unique("uq_etl_dataclasses_live_component", "component_id"),)


class JobRow(EtlTable, entity=d.Job, tablename="etl_jobs", table=True): ...


class JobStepRow(EtlTable, entity=d.JobStep, tablename="etl_job_steps", table=True): ...


class TagRow(EtlTable, entity=d.Tag, tablename="etl_tags", table=True): ...


class JobTagRow(EtlTable, entity=d.JobTag, tablename="etl_job_tags", table=True): ...


class ExecutionRow(EtlTable, entity=d.JobExecution, tablename="etl_executions", table=True): ...
