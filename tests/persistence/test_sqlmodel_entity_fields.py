"""``EntityFields``: a SQLModel table takes its fields, columns, foreign keys and CHECKs from
its entity (as ``EntityColumns`` does for declarative rows); what the table declares is kept.
``row_for`` and ``repository_for`` find it; on both databases the CHECKs, the foreign key and
the encryption hold."""

from __future__ import annotations

import enum
from typing import Annotated, Any
from uuid import UUID

import pytest
from pydantic import Field as PydanticField
from pydantic import StringConstraints
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from lamina.domain import (
    ENCRYPTED,
    Entity,
    ReferenceMissing,
    References,
    SoftDeletable,
    StandardEntity,
    Timestamped,
    Unique,
    uuid7,
)
from lamina.persistence import (
    Database,
    EntityFields,
    Keyring,
    live_unique,
    new_key,
    new_registry,
    repository_for,
    row_for,
    where,
)

KEYRING = Keyring.parse(f"k1={new_key()}")


class Stage(enum.StrEnum):
    DRAFT = "draft"
    LIVE = "live"


class Pipeline(StandardEntity, SoftDeletable):
    name: Annotated[str, StringConstraints(min_length=1, max_length=40), Unique()]
    stage: Stage = Stage.DRAFT
    retries: Annotated[int, PydanticField(ge=0, le=5)] = 0
    rows: Annotated[int, PydanticField(ge=0, le=2**62)] = 0  # beyond 32 bits: a BIGINT
    settings: dict[str, Any] = PydanticField(default_factory=dict)
    token: Annotated[str, ENCRYPTED] = ""
    note: str = ""


class Run(Entity, Timestamped):
    pipeline_id: Annotated[UUID, References(Pipeline)]
    label: Annotated[str | None, StringConstraints(max_length=20), Unique("pipeline_id")] = None


class Tables(EntityFields, registry=new_registry()):
    """The tests' tables."""


class PipelineRow(Tables, entity=Pipeline, tablename="t_smef_pipelines", table=True):
    __table_args__ = (live_unique("uq_t_smef_pipelines_live_name", "name"),)
    note: str = Field(default="", sa_type=String(500))  # declared: kept as written


class RunRow(Tables, entity=Run, table=True):
    __tablename__ = "t_smef_runs"


def test_the_table_takes_its_columns_and_checks_from_the_entity() -> None:
    table = PipelineRow.__table__  # type: ignore[attr-defined]
    assert issubclass(PipelineRow, SQLModel)
    assert table.metadata is Tables.metadata
    standard = {"id", "created_at", "updated_at", "created_by_id", "updated_by_id", "version"}
    assert standard | {"deleted_at"} <= set(table.c.keys())
    assert [c.name for c in table.primary_key] == ["id"]
    assert (table.c.name.type.length, table.c.stage.type.length) == (40, 5)
    assert isinstance(table.c.retries.type, Integer)
    assert not isinstance(table.c.retries.type, BigInteger)
    assert isinstance(table.c.rows.type, BigInteger)
    assert isinstance(table.c.token.type, Text)
    assert table.c.token.info  # flagged as encrypted
    assert table.c.note.type.length == 500
    checks = {c.name: str(c.sqltext) for c in table.constraints if isinstance(c, CheckConstraint)}
    assert checks["ck_t_smef_pipelines_stage_allowed"] == "stage IN ('draft', 'live')"
    assert checks["ck_t_smef_pipelines_retries_range"] == "retries >= 0 AND retries <= 5"
    assert "uq_t_smef_pipelines_live_name" in {i.name for i in table.indexes}
    assert set(PipelineRow.model_fields) == set(Pipeline.model_fields)


def test_a_reference_is_an_indexed_foreign_key_and_optional_fields_are_nullable() -> None:
    runs = RunRow.__table__  # type: ignore[attr-defined]
    assert [fk.column.table.name for fk in runs.c.pipeline_id.foreign_keys] == ["t_smef_pipelines"]
    assert runs.c.pipeline_id.index
    assert runs.c.label.nullable
    assert not runs.c.pipeline_id.nullable
    assert "version" not in runs.c
    assert "deleted_at" not in runs.c
    assert row_for(Run) is RunRow
    assert row_for(Pipeline) is PipelineRow


def test_defaults_come_from_the_entity() -> None:
    row = PipelineRow(name="p")
    assert (row.stage, row.retries, row.settings, row.version) == (Stage.DRAFT, 0, {}, 1)
    assert isinstance(row.id, UUID)


async def test_rows_read_and_written_through_the_default_repository(db_url: str) -> None:
    db = Database(db_url, secret_key="sqlmodel-entity-fields", keyring=KEYRING)
    try:
        await db.drop_all(Tables.metadata)
        await db.create_all(Tables.metadata)
        pipelines, runs = repository_for(Pipeline)(db), repository_for(Run)(db)
        made = await pipelines.add(Pipeline(name="nightly", token="s3cret", rows=2**40))
        assert await pipelines.get(made.id) == made
        assert (await pipelines.get(made.id)).rows == 2**40
        changed = await pipelines.update(made.id, {"stage": Stage.LIVE}, expected_version=1)
        assert (changed.stage, changed.version) == (Stage.LIVE, 2)
        await runs.add(Run(pipeline_id=made.id))
        assert await runs.count(where("pipeline_id") == made.id) == 1
        with pytest.raises(ReferenceMissing):  # the foreign key holds
            await runs.add(Run(pipeline_id=uuid7()))
        for broken in ("retries = 6", "stage = 'odd'", "rows = -1"):
            with pytest.raises(IntegrityError):  # whoever writes: the CHECKs hold
                async with db.engine.begin() as conn:
                    await conn.execute(text(f"UPDATE t_smef_pipelines SET {broken}"))
        async with AsyncSession(db.engine) as session:  # a SQLModel table like any other
            (row,) = (await session.execute(select(PipelineRow))).scalars().all()
        assert (row.name, row.stage) == ("nightly", "live")
        assert row.created_at.tzinfo is not None
        assert "s3cret" not in row.token  # sealed at rest (G17)
        await pipelines.delete(made.id)
        assert await pipelines.count() == 0  # soft-deleted (G1)
    finally:
        await db.drop_all(Tables.metadata)
        await db.close()


def test_unique_fields_of_sqlmodel_tables() -> None:
    live = {i.name for i in PipelineRow.__table__.indexes if i.unique}
    assert live == {"uq_t_smef_pipelines_live_name"}
    unique = [
        [c.name for c in u.columns]
        for u in RunRow.__table__.constraints
        if isinstance(u, UniqueConstraint)
    ]
    assert unique == [["pipeline_id", "label"]]
