"""Automatic row ⇄ entity mapping: same names, a rename map, value objects in several columns."""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter
from sqlalchemy import BigInteger, Column, Integer, SmallInteger, String, Table
from sqlalchemy import Enum as SAEnum

from lamina.domain.entity import ENCRYPTED, FIELD_MARKERS, SENSITIVE, Entity, ValueObject
from lamina.domain.errors import InvalidInput
from lamina.persistence.blind_index import BLIND_INDEX_SUFFIX
from lamina.persistence.encryption import ENCRYPTED_INFO, EncryptedField, FieldEncryption

E = TypeVar("E", bound=Entity)


def _optional_of(annotation: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None`` (or ``Optional[X]``), else ``(annotation, False)``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _value_object_type(annotation: Any) -> tuple[type[ValueObject] | None, bool]:
    """The ValueObject class an annotation holds (and whether it is optional), if any."""
    inner, optional = _optional_of(annotation)
    if isinstance(inner, type) and issubclass(inner, ValueObject):
        return inner, optional
    return None, False


def values_getter(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """``lambda d: tuple(d[n] for n in names)``, fast: an ``itemgetter`` always giving a tuple."""
    if not names:
        return lambda data: ()
    if len(names) == 1:
        (name,) = names
        return lambda data: (data[name],)
    return itemgetter(*names)


def _may_hold_enum(annotation: Any) -> bool:
    """True if values of this annotation can be Enum members (looks inside unions and Annotated)."""
    if isinstance(annotation, type):
        return issubclass(annotation, enum.Enum)
    return any(_may_hold_enum(arg) for arg in typing.get_args(annotation))


def integer_range(column: Column[Any]) -> tuple[int, int] | None:
    """The values an integer column holds on every database (PostgreSQL's sizes), or None.

    SQLite would store any 64-bit integer in an ``Integer`` column where
    PostgreSQL refuses one beyond 32 bits: checking against these bounds makes
    both answer alike.
    """
    kind = column.type
    if not isinstance(kind, Integer):
        return None
    bits = 16 if isinstance(kind, SmallInteger) else 64 if isinstance(kind, BigInteger) else 32
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def storable(value: Any, column: Column[Any]) -> Any:
    """``value`` as ``column`` stores it: an Enum member becomes its value unless the
    column is an SQLAlchemy ``Enum`` (which converts members itself)."""
    if isinstance(value, enum.Enum) and not isinstance(column.type, SAEnum):
        return value.value
    return value


_READ_NEUTRAL_CONFIG = frozenset(
    {
        "title",
        "frozen",
        "extra",
        "from_attributes",
        "populate_by_name",
        "validate_by_name",
        "validate_by_alias",
        "alias_generator",
        "loc_by_alias",
        "arbitrary_types_allowed",
        "protected_namespaces",
        "hide_input_in_errors",
        "defer_build",
        "strict",
        "revalidate_instances",
        "validate_assignment",
        "validate_default",
        "json_schema_extra",
        "json_schema_mode_override",
        "json_schema_serialization_defaults_required",
        "use_attribute_docstrings",
        "ser_json_timedelta",
        "ser_json_temporal",
        "ser_json_bytes",
        "ser_json_inf_nan",
        "serialize_by_alias",
        "cache_strings",
    }
)
"""Model settings that leave a value of exactly its field's type unchanged when validated
(settings such as ``use_enum_values`` or ``str_strip_whitespace`` do change it)."""


def stored_values_are_valid(entity: type[Entity], columns: Mapping[str, Column[Any]]) -> bool:
    """True if the values read from ``columns`` (by field) are exactly what validation gives.

    Then an entity can be made from a row without validating it again. That holds
    when every field has a column of its own; the entity has no validators, no
    ``model_post_init``, no private attributes, no extra fields and no setting
    that changes valid values (``use_enum_values``, ``str_to_lower``…); and each field
    is annotated with a plain class (optionally ``| None``) and nothing but
    lamina's markers (no constraints), which is exactly its column's Python type,
    and a field that cannot be None has a NOT NULL column.
    """
    if columns.keys() != entity.model_fields.keys():
        return False
    decorators = entity.__pydantic_decorators__
    config = entity.model_config
    if (
        not config.keys() <= _READ_NEUTRAL_CONFIG
        or config.get("extra") == "allow"
        or decorators.validators
        or decorators.field_validators
        or decorators.root_validators
        or decorators.model_validators
        or entity.__pydantic_post_init__ is not None
        or entity.__private_attributes__
    ):
        return False
    for name, field in entity.model_fields.items():
        if any(m not in FIELD_MARKERS for m in field.metadata):
            return False
        annotation, optional = _optional_of(field.annotation)
        column = columns[name]
        try:
            python_type = column.type.python_type
        except NotImplementedError:
            return False
        if python_type is not annotation or (column.nullable and not optional):
            return False
    return True


@dataclass(frozen=True, slots=True)
class _Part:
    column: Column[Any]
    sub: str | None  # the value object's field, or None for a plain field


class MappingError(TypeError):
    """A repository's entity and row do not fit together."""


class EntityMapper(Generic[E]):
    """Converts between an entity and the column values of its table.

    An entity field maps to the column of the same name (or ``renames[field]``);
    a :class:`ValueObject` field maps to the columns ``<column>_<part>``.
    Fields named in ``skip`` (loaded relationships) have no column.
    """

    def __init__(
        self,
        entity: type[E],
        table: Table,
        renames: Mapping[str, str] | None = None,
        skip: Collection[str] = (),
    ) -> None:
        self.entity = entity
        self.table = table
        renames = dict(renames or {})
        self._parts: dict[str, list[_Part]] = {}
        self._value_objects: dict[str, tuple[type[ValueObject], bool]] = {}
        self._column_to_field: dict[str, str] = {}
        for name, info in entity.model_fields.items():
            if name in skip:
                continue
            column = renames.get(name, name)
            vo, optional = _value_object_type(info.annotation)
            if vo is not None:
                self._value_objects[name] = (vo, optional)
                parts = [self._part(table, f"{column}_{sub}", sub) for sub in vo.model_fields]
            else:
                parts = [self._part(table, column, None)]
            self._parts[name] = parts
            for part in parts:
                self._column_to_field[part.column.name] = (
                    name if part.sub is None else f"{name}.{part.sub}"
                )
        self._fields = tuple(self._parts)
        self.field_set: frozenset[str] = frozenset(self._parts)
        """The entity fields stored in columns, as a set (for membership tests)."""
        # Columns in table order: SQLAlchemy lists an INSERT's columns that way,
        # so rows built in this order need no reordering.
        position = {c.name: i for i, c in enumerate(table.columns)}
        self.columns: tuple[str, ...] = tuple(
            sorted(
                (p.column.name for ps in self._parts.values() for p in ps), key=position.__getitem__
            )
        )
        encrypted = entity.fields_marked(ENCRYPTED) - set(skip)
        self.sensitive: frozenset[str] = entity.fields_marked(SENSITIVE) | encrypted
        """Fields masked in audit entries: the ``SENSITIVE`` and the ``ENCRYPTED`` ones."""
        self.encryption: FieldEncryption | None = (
            self._encryption(sorted(encrypted)) if encrypted else None
        )
        """How encrypted fields are sealed and opened; None when there are none."""
        # Fast path of values(): no value objects, so one column per field.
        flat = not self._value_objects
        by_column = {ps[0].column.name: name for name, ps in self._parts.items()}
        self._flat: tuple[str, ...] | None = (
            tuple(by_column[c] for c in self.columns) if flat else None
        )
        self._flat_columns = [table.c[c] for c in self.columns] if flat else []
        self._flat_getter: Callable[[dict[str, Any]], Any] | None = (
            None if self._flat is None else values_getter(self._flat)
        )
        self._enum_positions = [
            i
            for i, name in enumerate(self._flat or ())
            if _may_hold_enum(entity.model_fields[name].annotation)
        ]
        self._ranges: dict[str, tuple[int, int]] = {
            name: bounds
            for name in self.columns
            if (bounds := integer_range(table.c[name])) is not None
        }
        self._ranged_positions = [
            (i, self.field_for(name), *self._ranges[name])
            for i, name in enumerate(self.columns)
            if name in self._ranges
        ]
        self._lengths: dict[str, int] = {
            name: limit
            for name in self.columns
            if (limit := self._unchecked_length(table.c[name])) is not None
        }
        self._sized_positions = [
            (i, self.field_for(name), self._lengths[name])
            for i, name in enumerate(self.columns)
            if name in self._lengths
        ]
        self._adapters: dict[str, TypeAdapter[Any]] = {}
        self._trusted: tuple[str, ...] | None = None
        """Field names in column order when rows become entities without validation."""
        if self._flat is not None:
            by_field = dict(zip(self._flat, self._flat_columns, strict=True))
            if stored_values_are_valid(entity, by_field):
                self._trusted = self._flat

    def _encryption(self, names: Sequence[str]) -> FieldEncryption:
        """The plan of the encrypted fields ``names``: their columns, positions, blind indexes."""
        table = self.table
        fields = []
        for name in names:
            if name in self._value_objects:
                raise MappingError(
                    f"{self.entity.__name__}.{name}: a value object cannot be encrypted"
                )
            column = self._parts[name][0].column
            if not column.info.get(ENCRYPTED_INFO):
                raise MappingError(
                    f"{table.name}.{column.name} stores the encrypted field {name!r}: "
                    "declare it with encrypted_column()"
                )
            index = f"{column.name}{BLIND_INDEX_SUFFIX}"
            blind_index = index if index in table.c else None
            if blind_index is not None:
                self._column_to_field[blind_index] = name
            annotation, _ = _optional_of(self.entity.model_fields[name].annotation)
            fields.append(
                EncryptedField(
                    name,
                    column.name,
                    self.columns.index(column.name),
                    annotation is not str,
                    blind_index,
                )
            )
        (pk,) = table.primary_key.columns
        if pk.name not in self.columns:
            raise MappingError(f"{table.name}: encrypted fields need the primary key mapped")
        return FieldEncryption(table.name, fields, pk.name, self.columns.index(pk.name))

    def encrypted(self, column: str) -> EncryptedField | None:
        """The encrypted field stored in ``column``, if it is one."""
        return None if self.encryption is None else self.encryption.by_column.get(column)

    def _unchecked_length(self, column: Column[Any]) -> int | None:
        """The length of a ``String(n)`` column whose field does not keep its values within
        it already (SQLite would store a longer value, PostgreSQL refuse it), else None."""
        limit = getattr(column.type, "length", None)
        if not isinstance(column.type, String) or not isinstance(limit, int):
            return None
        field = self.field_for(column.name)
        name, _, sub = field.partition(".")
        info = (
            self._value_objects[name][0].model_fields[sub]
            if sub
            else self.entity.model_fields.get(name)
        )
        kept = [m.max_length for m in (info.metadata if info else []) if hasattr(m, "max_length")]
        return None if any(k is not None and k <= limit for k in kept) else limit

    @staticmethod
    def _part(table: Table, column: str, sub: str | None) -> _Part:
        if column not in table.c:
            raise MappingError(f"table {table.name!r} has no column {column!r}")
        return _Part(table.c[column], sub)

    @property
    def fields(self) -> tuple[str, ...]:
        """The entity fields stored in columns."""
        return self._fields

    def column_for(self, field: str) -> Column[Any] | None:
        """The single column storing ``field`` (``price.amount`` for a value object part)."""
        name, _, sub = field.partition(".")
        for part in self._parts.get(name, ()):
            if part.sub == (sub or None):
                return part.column
        return None

    def field_for(self, column: str) -> str:
        """The entity field a column stores (its own name if none)."""
        return self._column_to_field.get(column, column)

    def adapter(self, field: str) -> TypeAdapter[Any]:
        """A validator of values of ``field`` (``price.amount`` for a value object part)."""
        found = self._adapters.get(field)
        if found is None:
            name, _, sub = field.partition(".")
            if sub:
                vo, _ = self._value_objects[name]
                annotation = vo.model_fields[sub].annotation
            else:
                annotation = self.entity.model_fields[name].annotation
            found = self._adapters[field] = TypeAdapter(annotation)  # type: ignore[arg-type]
        return found

    def to_columns(self, entity: E, fields: Collection[str] | None = None) -> dict[str, Any]:
        """Column values of ``entity`` (of the given fields only, if named)."""
        names = self._parts.keys() if fields is None else fields
        return self.column_values({name: getattr(entity, name) for name in names})

    def column_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Column values of field values (validated ones; integers checked against their
        column's range)."""
        out: dict[str, Any] = {}
        for name, value in values.items():
            for part in self._parts[name]:
                v = (
                    value
                    if part.sub is None
                    else (None if value is None else getattr(value, part.sub))
                )
                bounds = self._ranges.get(part.column.name)
                if bounds is not None and v is not None and not bounds[0] <= v <= bounds[1]:
                    raise _out_of_range(self.field_for(part.column.name), *bounds)
                limit = self._lengths.get(part.column.name)
                if limit is not None and isinstance(v, str) and len(v) > limit:
                    raise _too_long(self.field_for(part.column.name), limit)
                out[part.column.name] = storable(v, part.column)
        return out

    def values(self, entity: E) -> list[Any]:
        """Column values of ``entity`` in the order of :attr:`columns`.

        Raises :class:`InvalidInput` for an integer beyond its column's range
        (:func:`integer_range`).
        """
        if self._flat_getter is None:
            by_column = self.to_columns(entity)
            return [by_column[c] for c in self.columns]
        out = list(self._flat_getter(entity.__dict__))
        for i in self._enum_positions:
            out[i] = storable(out[i], self._flat_columns[i])
        for i, field, low, high in self._ranged_positions:
            value = out[i]
            if value is not None and not low <= value <= high:
                raise _out_of_range(field, low, high)
        for i, field, limit in self._sized_positions:
            value = out[i]
            if isinstance(value, str) and len(value) > limit:
                raise _too_long(field, limit)
        return out

    @property
    def validates_reads(self) -> bool:
        """False when rows become entities without validation (:func:`stored_values_are_valid`)."""
        return self._trusted is None

    def from_rows(self, rows: Sequence[Sequence[Any]]) -> list[E]:
        """Entities from rows of column values in the order of :attr:`columns`."""
        if self._trusted is not None:
            return self.entity._trusted_many(self._trusted, rows)
        from_values = self.from_values
        return [from_values(row) for row in rows]

    def from_values(self, values: Sequence[Any]) -> E:
        """An entity from column values given in the order of :attr:`columns`."""
        if self._trusted is not None:
            return self.entity._trusted_one(self._trusted, values)
        if self._flat is not None:
            return self.entity.model_validate(dict(zip(self._flat, values, strict=True)))
        return self.from_columns(dict(zip(self.columns, values, strict=True)))

    def from_columns(self, row: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> E:
        """An entity from column values (plus ``extra`` field values, e.g. loaded relations)."""
        data: dict[str, Any] = {}
        for name, parts in self._parts.items():
            if name in self._value_objects:
                _, optional = self._value_objects[name]
                subs = {p.sub: row[p.column.name] for p in parts}
                if optional and all(v is None for v in subs.values()):
                    data[name] = None
                else:
                    data[name] = subs
            else:
                data[name] = row[parts[0].column.name]
        if extra:
            data.update(extra)
        return self.entity.model_validate(data)


def _too_long(field: str, limit: int) -> InvalidInput:
    return InvalidInput.for_field(field, f"at most {limit} characters fit")


def _out_of_range(field: str, low: int, high: int) -> InvalidInput:
    return InvalidInput.for_field(field, f"must be between {low} and {high}")
