"""``JSONValue``: a JSON column storing Pydantic models, read back and validated by the entity."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lamina.domain import Entity, ValueObject
from lamina.persistence import Base, Database, JSONValue, Repository, UUIDPrimaryKey, new_metadata


class Line(ValueObject):
    label: str
    amount: Decimal


class JsonBase(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = Base.type_annotation_map


class InvoiceRow(JsonBase, UUIDPrimaryKey):
    __tablename__ = "t_json_invoices"
    lines: Mapped[list[Any]] = mapped_column(JSONValue())


class Invoice(Entity):
    lines: list[Line]


class Invoices(Repository[Invoice, InvoiceRow]):
    pass


async def test_models_in_a_json_column_round_trip(db_url: str) -> None:
    db = Database(db_url)
    try:
        await db.drop_all(JsonBase.metadata)
        await db.create_all(JsonBase.metadata)
        lines = [Line(label="a", amount=Decimal("1.50")), Line(label="b", amount=Decimal(2))]
        stored = await Invoices(db).add(Invoice(lines=lines))
        assert (await Invoices(db).get(stored.id)).lines == lines
        changed = await Invoices(db).update(stored.id, {"lines": lines[:1]})
        assert (await Invoices(db).get(stored.id)).lines == changed.lines == lines[:1]
        await db.drop_all(JsonBase.metadata)
    finally:
        await db.close()
