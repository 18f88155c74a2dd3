"""The ETL tables after a developer added a field to a SQLModel table: jobs get ``timeout_s``.

The other tables are the service's own (copied); ``JobRow`` declares by hand the fields the
service's table takes from its entity, and the new one. ``lamina db revision --autogenerate``
reads ``metadata``.
"""

from __future__ import annotations

from typing import get_args
from uuid import UUID

from examples.etl.rows import EtlTable
from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from examples.etl import domain as d
from lamina.persistence import (
    SoftDeleteField,
    StandardFields,
    enum_field,
    live_unique,
    new_registry,
    one_of,
)


class Tables(SQLModel, registry=new_registry()):
    """The same schema, with the edited jobs table."""


for table in EtlTable.metadata.sorted_tables:
    if table.name != "etl_jobs":
        table.to_metadata(Tables.metadata)


class JobRow(Tables, StandardFields, SoftDeleteField, table=True):
    __tablename__ = "etl_jobs"
    __table_args__ = (
        live_unique("uq_etl_jobs_live_name", "project_id", "name"),
        CheckConstraint("num_of_retries BETWEEN 0 AND 10", name="num_of_retries_range"),
        one_of("strategy_type", get_args(d.StrategyType)),
    )
    project_id: UUID = Field(foreign_key="etl_projects.id", index=True)
    name: str = Field(max_length=100)
    num_of_retries: int = 0
    file_logging: bool = False
    strategy_type: str = enum_field(get_args(d.StrategyType))
    timeout_s: int | None = None  # the new field


metadata = Tables.metadata
