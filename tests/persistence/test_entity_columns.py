"""``EntityColumns``: columns and CHECKs from the entity's fields, refused like Pydantic refuses."""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Annotated
from uuid import UUID

import pytest
from pydantic import Field, StringConstraints
from sqlalchemy import BigInteger, Integer, String, Text, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lamina.domain import ENCRYPTED, Entity, ReferenceMissing, References, ValueObject, uuid7
from lamina.persistence import (
    Base,
    Database,
    EntityColumns,
    JSONValue,
    MappingError,
    Repository,
    UUIDPrimaryKey,
    encrypted_columns,
    new_metadata,
)


class Level(enum.StrEnum):
    EASY = "easy"
    HARD = "hard"


class Money(ValueObject):
    amount: Annotated[Decimal, Field(ge=0, max_digits=8, decimal_places=2)]
    currency: Annotated[str, StringConstraints(max_length=3)]


class Gadget(Entity):
    name: Annotated[str, StringConstraints(max_length=40)]
    notes: str = ""
    count: Annotated[int, Field(gt=0, le=10)] = 1
    level: Level = Level.EASY
    price: Money | None = None
    tags: list[str] = Field(default_factory=list)
    owner: UUID | None = None
    code: str = "x"


class ColumnsBase(EntityColumns, DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = Base.type_annotation_map


class GadgetRow(ColumnsBase, UUIDPrimaryKey, entity=Gadget):
    __tablename__ = "t_entity_columns_gadgets"
    code: Mapped[str] = mapped_column(String(5), unique=True)  # declared: kept as it is


class Gadgets(Repository[Gadget, GadgetRow]):
    pass


class Part(Entity):
    gadget_id: Annotated[UUID, References(Gadget)]
    spare_for: Annotated[UUID, References(Gadget)] | None = None


class PartRow(ColumnsBase, UUIDPrimaryKey, entity=Part):
    __tablename__ = "t_entity_columns_parts"


class Parts(Repository[Part, PartRow]):
    pass


def test_columns_follow_the_fields() -> None:
    c = GadgetRow.__table__.c
    assert (c.name.type.length, type(c.notes.type).__name__) == (40, "Text")
    assert (c.price_amount.type.precision, c.price_amount.type.scale) == (8, 2)
    assert c.price_currency.type.length == 3
    assert (c.level.type.length, c.code.type.length, c.code.unique) == (4, 5, True)
    assert isinstance(c.tags.type, JSONValue)
    assert [n for n in ("name", "count", "price_amount", "owner") if c[n].nullable] == [
        "price_amount",
        "owner",
    ]
    checks = {
        str(k.name): str(k.sqltext)
        for k in GadgetRow.__table__.constraints
        if k.__class__.__name__ == "CheckConstraint"
    }
    assert checks == {
        "ck_t_entity_columns_gadgets_count_range": "count > 0 AND count <= 10",
        "ck_t_entity_columns_gadgets_level_allowed": "level IN ('easy', 'hard')",
        "ck_t_entity_columns_gadgets_price_amount_range": "price_amount >= 0",
    }


def test_an_encrypted_field_gets_an_encrypted_column_and_a_wide_int_a_bigint() -> None:
    class Vault(Entity):
        secret: Annotated[str, ENCRYPTED]
        hint: Annotated[str | None, ENCRYPTED] = None
        total: Annotated[int, Field(ge=0, le=2**40)] = 0
        small: Annotated[int, Field(ge=-(2**31), le=2**31 - 1)] = 0

    class VaultBase(EntityColumns, DeclarativeBase):
        metadata = new_metadata()
        type_annotation_map = Base.type_annotation_map

    class VaultRow(VaultBase, entity=Vault, tablename="t_entity_columns_vaults"): ...

    c = VaultRow.__table__.c
    assert [type(c[n].type) for n in ("secret", "total", "small")] == [Text, BigInteger, Integer]
    assert (c.secret.nullable, c.hint.nullable) == (False, True)
    assert [col.name for col in encrypted_columns(VaultBase.metadata)] == ["secret", "hint"]


def test_a_field_of_an_unknown_type_must_be_declared() -> None:
    class Odd(Entity):
        value: complex

    with pytest.raises(MappingError, match=r"Odd\.value"):

        class OddRow(ColumnsBase, UUIDPrimaryKey, entity=Odd):
            __tablename__ = "t_entity_columns_odd"


def test_a_reference_is_an_indexed_foreign_key_to_the_referenced_entitys_table() -> None:
    c = PartRow.__table__.c
    for column, nullable in ((c.gadget_id, False), (c.spare_for, True)):
        assert [fk.target_fullname for fk in column.foreign_keys] == ["t_entity_columns_gadgets.id"]
        assert (column.index, column.nullable) == (True, nullable)


def test_a_reference_to_an_entity_without_a_row_says_so() -> None:
    class Stray(Entity):
        part_id: Annotated[UUID, References(Part)]

    class Elsewhere(EntityColumns, DeclarativeBase):
        metadata = new_metadata()
        type_annotation_map = Base.type_annotation_map

    with pytest.raises(MappingError, match=r"Stray\.part_id references Part.*declare its row"):

        class StrayRow(Elsewhere, UUIDPrimaryKey, entity=Stray):
            __tablename__ = "t_entity_columns_stray"


async def test_the_database_refuses_what_the_entity_refuses(db_url: str) -> None:
    db = Database(db_url)
    try:
        await db.drop_all(ColumnsBase.metadata)
        await db.create_all(ColumnsBase.metadata)
        price = Money(amount=Decimal("2.50"), currency="EUR")
        stored = await Gadgets(db).add(Gadget(name="g", price=price, tags=["a"]))
        assert await Gadgets(db).get(stored.id) == stored
        for broken in ("count = 0", "count = 11", "price_amount = -1", "level = 'odd'"):
            with pytest.raises(IntegrityError):  # whoever writes: the CHECKs hold
                async with db.engine.begin() as conn:
                    await conn.execute(text(f"UPDATE t_entity_columns_gadgets SET {broken}"))
        await Parts(db).add(Part(gadget_id=stored.id))
        with pytest.raises(ReferenceMissing):  # the foreign key holds too
            await Parts(db).add(Part(gadget_id=uuid7()))
    finally:
        await db.drop_all(ColumnsBase.metadata)
        await db.close()
