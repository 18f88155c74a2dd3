"""Entities, value objects and the field markers that drive persistence and schemas."""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, ClassVar, Self, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from lamina.domain.ids import uuid7
from lamina.domain.masking import ShowLast


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


SERVER_OWNED = _Marker("SERVER_OWNED")
"""Marks a field only the server sets (ids, timestamps, versions, actors).

Use as ``Annotated[datetime, SERVER_OWNED]``. Input schemas never contain it,
so a client cannot set it (G12).
"""

READ_ONLY = _Marker("READ_ONLY")
"""Marks a field set on creation by the server or a use case, never by client input."""

IMMUTABLE = _Marker("IMMUTABLE")
"""Marks a field a client sets when it makes the entity and no one changes afterwards (the user
of a membership: only its role changes). The derived update schema leaves it out, and a
service's ``update`` refuses to change it (:class:`~lamina.domain.InvalidInput`, a 422)."""

SENSITIVE = _Marker("SENSITIVE")
"""Marks a field whose value is masked in audit entries and logs and never returned."""

ENCRYPTED = _Marker("ENCRYPTED")
"""Marks a field stored encrypted (AES-256-GCM under the database's keyring), e.g.
``Annotated[str, ENCRYPTED]`` or ``Annotated[dict[str, Any], ENCRYPTED]``.

Entities, services and the API see the plaintext; the table holds only
ciphertext; audit entries mask it like a ``SENSITIVE`` value (G17). Its row
column is declared with ``lamina.persistence.encrypted_column()``.
"""


EDITORS_ONLY = _Marker("EDITORS_ONLY")
"""Marks a field only those who may change the entity read (a quiz's right answers, a
product's cost price); a service gives everyone else ``None`` in its place, in every read
(``Service.shown``), and the API's output schema makes it nullable. It also works on a
field of a :class:`ValueObject` the entity holds (in a list, too). Its changes still show
in the audit trail: make that the editors' too (``Service.history_needs_write``)."""


class Unique:
    """Marks a field whose value no other entity has: ``slug: Annotated[Slug, Unique()]``;
    ``Unique("course_id")``: no other of the same course (a video's ``position``).

    Among live entities only, for a :class:`SoftDeletable` one (a deleted course frees its
    slug). A row made by ``lamina.persistence.EntityColumns`` or ``EntityFields`` gets the
    unique constraint (``live_unique`` for a soft-deletable entity, named
    ``uq_<table>_live_<field>``), on the ``within`` fields and then this one; a write that
    would break it raises :class:`~lamina.domain.AlreadyExists` naming the fields (409).
    """

    __slots__ = ("within",)

    def __init__(self, *within: str) -> None:
        self.within = within

    def __repr__(self) -> str:
        return f"Unique({', '.join(map(repr, self.within))})"


class Numbered:
    """Marks a number a service gives each new entity within a parent: 1, 2, 3… within
    ``within`` (``attempt: Annotated[int, READ_ONLY, Numbered("job_id")]``: a job's runs). A
    create that leaves the field out gets one more than the rows of that parent so far (deleted
    ones too: number rows you do not hard-delete), concurrent creates in one parent taking
    their numbers in turn; pair it with ``Unique(within)`` so the database holds it too.
    """

    __slots__ = ("within",)

    def __init__(self, within: str) -> None:
        self.within = within

    def __repr__(self) -> str:
        return f"Numbered({self.within!r})"


class References:
    """Marks a field holding the id of another entity: ``Annotated[UUID, References(Course)]``.

    An entity refers to another by its id, never by holding it; the marker says
    which, so persistence need not be told again: a row made by
    ``lamina.persistence.EntityColumns`` gets a foreign key to the table of that
    entity's row (declared before it), and an index.


    ``within`` names a field both entities have (a ``project_id``): the referenced one must
    have the same value there, so a reference never crosses from one project (tenant,
    workspace) to another. A service checks it when the field is set by a create or a
    change: an entity of another project is a 404, as though it did not exist::

        component_id: Annotated[UUID | None, References(Component, within="project_id")]
    """

    __slots__ = ("entity", "within")

    def __init__(self, entity: type[Entity], *, within: str | None = None) -> None:
        if within is not None and within not in entity.model_fields:
            raise TypeError(f"References({entity.__name__}, within={within!r}): no such field")
        self.entity = entity
        self.within = within

    def __repr__(self) -> str:
        within = f", within={self.within!r}" if self.within else ""
        return f"References({self.entity.__name__}{within})"


FIELD_MARKERS = (SERVER_OWNED, READ_ONLY, IMMUTABLE, SENSITIVE, ENCRYPTED, EDITORS_ONLY)
"""lamina's markers: they tell persistence and schemas about a field, validation ignores them."""

_E = TypeVar("_E", bound="Entity")
_M = TypeVar("_M", bound=BaseModel)
_T = TypeVar("_T")

_MARKED: dict[tuple[type[Any], _Marker], tuple[dict[str, Any], frozenset[str]]] = {}
"""Per entity class and marker: the fields it marks (every write asks), with the fields
they were found in."""

# Pydantic's own slots of a model instance, set directly when the repository copies entities.
_SET_DICT = BaseModel.__dict__["__dict__"].__set__
_SET_FIELDS_SET = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_SET_EXTRA = BaseModel.__dict__["__pydantic_extra__"].__set__
_SET_PRIVATE = BaseModel.__dict__["__pydantic_private__"].__set__

MASK = "***"
"""What a sensitive value is replaced by wherever it is shown."""


utcnow: Callable[[], datetime] = partial(datetime.now, UTC)
"""The current time as a timezone-aware UTC datetime (``utcnow()``).

A ``partial`` rather than a function: entity defaults call it for every new
entity, and this saves a Python frame each time.
"""


def _unvalidated(made: Iterable[tuple[type[_M], dict[str, Any], set[str]]]) -> list[_M]:
    """Model instances from ``(class, field values, fields set)``, nothing validated:
    pydantic's own slots are set directly (the repository's copies and trusted reads)."""
    instances: list[_M] = []
    append = instances.append
    make, set_dict, set_fields_set, set_extra, set_private = (
        object.__new__,
        _SET_DICT,
        _SET_FIELDS_SET,
        _SET_EXTRA,
        _SET_PRIVATE,
    )
    for cls, data, fields_set in made:
        one = make(cls)
        set_dict(one, data)
        set_fields_set(one, fields_set)
        set_extra(one, None)
        set_private(one, None)
        append(one)
    return instances


def _same_as_created_at(data: dict[str, Any]) -> Any:
    return data["created_at"] if "created_at" in data else utcnow()


_LAMINA_MARKERS = (_Marker, Unique, References, Numbered, ShowLast)


def check_markers(model: type[BaseModel]) -> None:
    """Make every lamina marker of ``model``'s fields count where Pydantic would drop it.

    Pydantic keeps the metadata of an ``Annotated`` around a field's whole type only; the
    markers of an optional field written ``Annotated[str, SENSITIVE] | None`` are lifted
    into the field's metadata, as ``Annotated[str | None, SENSITIVE]`` has them. A marker
    deeper in the type (``list[Annotated[str, SENSITIVE]]``) could mean nothing there: a
    TypeError says so, rather than leave the field unmasked, not unique, writable…"""
    for name, info in model.model_fields.items():
        arguments = typing.get_args(info.annotation)
        optional = type(None) in arguments and len(arguments) == 2
        for argument in arguments if optional else ():
            if typing.get_origin(argument) is Annotated:
                lifted = [m for m in argument.__metadata__ if isinstance(m, _LAMINA_MARKERS)]
                info.metadata += [m for m in lifted if m not in info.metadata]
        hidden = _nested_markers(info.annotation, skip_optional=optional)
        if hidden:
            markers = ", ".join(map(repr, hidden))
            raise TypeError(
                f"{model.__name__}.{name}: {markers} inside the field's type has no effect; "
                f"put it around the whole type: Annotated[X, {markers}]"
            )


def _nested_markers(annotation: Any, *, skip_optional: bool = False) -> list[Any]:
    """The lamina markers in ``Annotated`` types nested in ``annotation`` (but those of its
    optional part, when ``skip_optional``: lifted already)."""
    found: list[Any] = []
    for argument in typing.get_args(annotation):
        nested = argument
        if typing.get_origin(argument) is Annotated:
            if not skip_optional:
                found += [m for m in argument.__metadata__ if isinstance(m, _LAMINA_MARKERS)]
            nested = argument.__origin__
        found += _nested_markers(nested)
    return found


class ValueObject(BaseModel):
    """An immutable value compared by its fields (a ``Price``, an ``Address``).

    Stored in the columns ``<field>_<part>`` of the owning row, so
    ``price: Price`` maps to ``price_amount`` and ``price_currency``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        check_markers(cls)
        for name, info in cls.model_fields.items():
            ignored = [m for m in info.metadata if isinstance(m, _LAMINA_MARKERS)]
            ignored = [m for m in ignored if m is not EDITORS_ONLY]
            if ignored:  # the audit log, columns and schemas read an entity's fields only
                markers = ", ".join(map(repr, ignored))
                raise TypeError(
                    f"{cls.__name__}.{name}: {markers} on a value object's field has no "
                    f"effect; mark the entity's field that holds it (Annotated[{cls.__name__}, "
                    f"{markers}])"
                )


class Entity(BaseModel):
    """A business object with an identity: frozen, validated, changed by :meth:`evolve`.

    The ``id`` is a time-ordered UUID v7 made on construction, so an entity
    has its identity before it is stored.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", from_attributes=True)

    id: Annotated[UUID, SERVER_OWNED] = Field(default_factory=uuid7)

    __entity_name__: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__entity_name__" not in cls.__dict__:
            cls.__entity_name__ = cls.__name__

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        check_markers(cls)

    def evolve(self, **changes: Any) -> Self:
        """Return a copy with ``changes`` applied and every field validated again.

        Raises ``pydantic.ValidationError`` if a change breaks a field's rules;
        the original is never modified.
        """
        unknown = changes.keys() - type(self).model_fields.keys()
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(unknown)}")
        return type(self).model_validate({**self.__dict__, **changes})

    @staticmethod
    def _with_trusted(entities: Sequence[_E], values: dict[str, Any]) -> list[_E]:
        """Copies of ``entities`` with ``values`` set without validation.

        Only for values that are already valid for their fields (the
        repository's own timestamps, versions and actor ids).
        """
        keys = set(values)
        return _unvalidated(
            (type(e), {**e.__dict__, **values}, e.__pydantic_fields_set__ | keys) for e in entities
        )

    @classmethod
    def _trusted_one(cls, names: tuple[str, ...], row: Sequence[Any]) -> Self:
        """:meth:`_trusted_many` of one row (a single write's, without its generator)."""
        return _unvalidated(((cls, dict(zip(names, row, strict=True)), set(names)),))[0]

    @classmethod
    def _trusted_many(cls, names: tuple[str, ...], rows: Iterable[Sequence[Any]]) -> list[Self]:
        """Instances from rows holding a value for every field, ``names`` giving their order.

        Nothing is validated: only for values that are already exactly what
        validation would give (see ``EntityMapper``'s check of stored values).
        """
        fields = set(names)
        return _unvalidated(
            (cls, dict(zip(names, row, strict=True)), fields.copy()) for row in rows
        )

    @classmethod
    def markers_of(cls, kind: type[_T]) -> dict[str, _T]:
        """The fields carrying a marker of ``kind`` (``Unique``, ``References``…), each with
        its marker."""
        return {
            name: marker
            for name, info in cls.model_fields.items()
            for marker in info.metadata
            if isinstance(marker, kind)
        }

    @classmethod
    def references(cls) -> dict[str, type[Entity]]:
        """The fields holding another entity's id (``References(Course)``) and that entity."""
        return {name: marker.entity for name, marker in cls.markers_of(References).items()}

    @classmethod
    def references_within(cls) -> dict[str, References]:
        """The references that must stay where this entity is (``References(X, within=...)``),
        by field; TypeError if this entity lacks the ``within`` field."""
        found = {n: m for n, m in cls.markers_of(References).items() if m.within is not None}
        for name, marker in found.items():
            if marker.within not in cls.model_fields:
                raise TypeError(f"{cls.__name__}.{name}: {marker!r}, but no {marker.within} here")
        return found

    @classmethod
    def numbered(cls) -> dict[str, str]:
        """The ``Numbered`` fields and the field each is numbered within; TypeError if that
        field is not the entity's."""
        found = {name: marker.within for name, marker in cls.markers_of(Numbered).items()}
        for name, within in found.items():
            if within not in cls.model_fields:
                raise TypeError(f"{cls.__name__}.{name}: Numbered({within!r}), no such field")
        return found

    @classmethod
    def fields_marked(cls, marker: _Marker) -> frozenset[str]:
        """Names of the fields annotated with ``marker`` (``SERVER_OWNED``, ``SENSITIVE``…)."""
        fields = cls.__pydantic_fields__
        known = _MARKED.get((cls, marker))
        if known is None or known[0] is not fields:  # new, or the class was rebuilt since
            names = frozenset(name for name, f in fields.items() if marker in f.metadata)
            known = _MARKED[(cls, marker)] = (fields, names)
        return known[1]


class Timestamped(BaseModel):
    """Adds ``created_at`` and ``updated_at`` (timezone-aware UTC, set by the repository)."""

    created_at: Annotated[datetime, SERVER_OWNED] = Field(default_factory=utcnow)
    updated_at: Annotated[datetime, SERVER_OWNED] = Field(default_factory=_same_as_created_at)


class SoftDeletable(BaseModel):
    """Adds ``deleted_at``: set when soft-deleted, hidden from reads unless asked for (G1)."""

    deleted_at: Annotated[datetime | None, SERVER_OWNED] = None


class Versioned(BaseModel):
    """Adds ``version`` for optimistic locking: every update must name the version it read (G2)."""

    version: Annotated[int, SERVER_OWNED] = 1


class ActorTracked(BaseModel):
    """Adds ``created_by_id`` and ``updated_by_id``, taken from the current ``EventContext``."""

    created_by_id: Annotated[UUID | None, SERVER_OWNED] = None
    updated_by_id: Annotated[UUID | None, SERVER_OWNED] = None


class StandardEntity(Entity, Timestamped, Versioned, ActorTracked):
    """The usual set: a UUID ``id``, timestamps, ``version`` and the actors (the columns of
    ``StandardColumns``). Soft delete is opt-in: ``class Course(StandardEntity, SoftDeletable)``.
    """
