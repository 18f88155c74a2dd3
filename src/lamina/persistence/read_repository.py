"""``ReadOnlyRepository[Entity, Row]``: the reads of one entity; ``Repository`` adds writes."""

from __future__ import annotations

import builtins
import typing
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from decimal import Decimal
from types import TracebackType
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    Numeric,
    String,
    Table,
    bindparam,
    func,
    select,
)

from lamina.domain.entity import Entity, Unique
from lamina.domain.errors import InvalidInput, NotFound
from lamina.persistence import audit
from lamina.persistence.audit import AuditEntry
from lamina.persistence.connection import Connection
from lamina.persistence.database import Database
from lamina.persistence.errors import translate
from lamina.persistence.filters import EQUALITY_OPS, TEXT_OPS, Filter, Op, Subquery
from lamina.persistence.keyring import Keyring
from lamina.persistence.keyset import cursor_after, position_of
from lamina.persistence.mapping import EntityMapper, MappingError, storable
from lamina.persistence.pages import CursorPage, OffsetPage
from lamina.persistence.queries import (
    FilterSet,
    OrderShape,
    build_filter_clauses,
    keyset_clause,
    order_clauses,
    parse_order,
    prepare_filters,
)
from lamina.persistence.relations import Relation, chunks, load_relations
from lamina.persistence.statements import StatementCache
from lamina.persistence.unit_of_work import UnitOfWork

E = TypeVar("E", bound=Entity)
R = TypeVar("R")

Target = Database | UnitOfWork
Visibility = typing.Literal["live", "all", "deleted"]


_KEY_OPS = frozenset({Op.EQ, Op.IN})


def _keys_of(entity: type[Entity]) -> list[str]:
    """The fields every repository of ``entity`` filters by equality and ``in``: its id, its
    references (``References(Other)``: indexed foreign keys) and its ``Unique`` fields (a
    slug, a tag's name: indexed too)."""
    unique = entity.markers_of(Unique)
    return [*(["id"] if "id" in entity.model_fields else []), *entity.references(), *unique]


_COLUMN_NAMES: dict[type[Any], frozenset[str]] = {}
"""Per repository class: its table's column names (every write asks :meth:`has`)."""


class ReadOnlyRepository(Generic[E, R]):
    """Reads of one entity type; :class:`~lamina.persistence.Repository` adds the writes.

    Declared once per entity::

        class Conversations(Repository[Conversation, ConversationRow]):
            filterable = ("modality", "title", "created_at")
            sortable = ("created_at", "last_activity_at")

    Bind it to a :class:`Database` (each write is its own transaction) or to a
    :class:`UnitOfWork` (writes join that transaction). Standard columns are
    recognised by name: ``deleted_at`` turns on soft delete (hidden from every
    read unless asked for, G1), ``version`` turns on optimistic locking (G2),
    and ``created_at``/``updated_at``/``created_by_id``/``updated_by_id`` are
    set from the clock and the current :class:`EventContext`. Every write
    leaves an audit entry (G4).

    ``scope`` filters are applied to every read, count, page, update and
    delete (tenant scoping): rows outside it behave as if they did not exist.
    """

    entity: ClassVar[type[Entity]]
    row: ClassVar[type[Any]]
    renames: ClassVar[Mapping[str, str]] = {}
    filterable: ClassVar[Sequence[str] | Mapping[str, Sequence[str]]] = ()
    """The fields list filters may use: names (every operator) or ``{name: [operators]}``.
    The id, the references (``References(Other)``) and the ``Unique`` fields always filter by
    ``eq`` and ``in``."""
    sortable: ClassVar[Sequence[str]] = ()
    default_order: ClassVar[Sequence[str]] = ()
    relations: ClassVar[Mapping[str, type[ReadOnlyRepository[Any, Any]]]] = {}
    audited: ClassVar[bool] = True

    _mapper: ClassVar[EntityMapper[Any] | None] = None
    _relations: ClassVar[dict[str, Relation]]
    _allowed_filters: ClassVar[dict[str, frozenset[Op]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            if isinstance(typing.get_origin(base), type) and issubclass(
                typing.get_origin(base), ReadOnlyRepository
            ):
                entity, row = typing.get_args(base)
                if isinstance(entity, type) and isinstance(row, type):
                    cls.entity, cls.row = entity, row
        cls._mapper = None

    def __init__(self, target: Target, *, scope: Sequence[Filter] = ()) -> None:
        self.target = target
        self.scope = tuple(scope)
        self.keyring: Keyring = self._database().keyring
        """The keys of encrypted fields and blind indexes (the database's)."""
        self._scope = prepare_filters(self.scope, self.mapper(), None, "s", self.keyring)

    # ------------------------------------------------------------------ class set-up

    @classmethod
    def mapper(cls) -> EntityMapper[Any]:
        """The row ⇄ entity mapper (built on first use)."""
        if cls._mapper is None:
            if not hasattr(cls, "entity"):
                raise TypeError(f"{cls.__name__} must subclass Repository[Entity, Row]")
            table = cls.table()
            cls._mapper = EntityMapper(cls.entity, table, cls.renames, skip=cls.relations.keys())
            cls._relations = {}
            all_ops = frozenset(Op)
            if isinstance(cls.filterable, Mapping):
                declared = {f: frozenset(Op(o) for o in ops) for f, ops in cls.filterable.items()}
            else:
                declared = dict.fromkeys(cls.filterable, all_ops)
            allowed = dict.fromkeys(_keys_of(cls.entity), _KEY_OPS)
            for field, ops in declared.items():
                allowed[field] = allowed.get(field, frozenset()) | ops
            for field in allowed:
                column = cls._mapper.column_for(field)
                if column is None:
                    raise MappingError(f"{cls.__name__}.filterable: no column for {field!r}")
                encrypted = cls._mapper.encrypted(column.name)
                if encrypted is not None:  # equality through a blind index at most
                    ops = EQUALITY_OPS if encrypted.blind_index else frozenset({Op.IS_NULL})
                    allowed[field] = allowed[field] & ops
                elif not isinstance(column.type, String):  # LIKE matches text only
                    named = declared.get(field, frozenset()) & TEXT_OPS
                    if named and isinstance(cls.filterable, Mapping):
                        raise MappingError(
                            f"{cls.__name__}.filterable: {field!r} is not text: "
                            f"no {', '.join(sorted(named))}"
                        )
                    allowed[field] = allowed[field] - TEXT_OPS
            cls._allowed_filters = allowed
        return cls._mapper

    @classmethod
    def allowed_filters(cls) -> Mapping[str, frozenset[Op]]:
        """The filterable fields and the operators each accepts (from ``filterable``)."""
        cls.mapper()
        return cls._allowed_filters

    @classmethod
    def table(cls) -> Table:
        """The table of the row class."""
        table = getattr(cls.row, "__table__", None)
        if not isinstance(table, Table):
            raise TypeError(f"{cls.row!r} is not a mapped table class")
        return table

    @classmethod
    def relation(cls, name: str) -> Relation:
        """The declared relationship ``name``; raises InvalidInput for an undeclared one."""
        cls.mapper()
        found = cls._relations.get(name)
        if found is None:
            target = cls.relations.get(name)
            if target is None:
                raise InvalidInput.for_field("load", f"{name!r} cannot be loaded")
            found = cls._relations[name] = Relation.from_row(cls.row, name, target)
        return found

    @classmethod
    def entity_name(cls) -> str:
        """The entity's name in errors and audit entries."""
        return str(getattr(cls.entity, "__entity_name__", cls.entity.__name__))

    @classmethod
    def subquery(cls, field: str, *filters: Filter, include_deleted: bool = False) -> Subquery:
        """The values of ``field`` in the live rows matching ``filters``, for ``in_`` filters.

        It becomes a subquery of the statement that uses it, so a scope such
        as "the conversations of the workspaces I belong to" costs no query of
        its own::

            mine = Memberships.subquery("workspace_id", where("user_id") == user.id)
            await Conversations(db).list(where("workspace_id").in_(mine))

        ``filters`` are trusted (any field of this entity, ``filterable`` or
        not); their values are bound as parameters.
        """
        column = cls.mapper().column_for(field)
        if column is None:
            raise MappingError(f"{cls.__name__}: no column for {field!r}")
        if cls.mapper().encrypted(column.name) is not None:  # ciphertexts never match
            raise MappingError(f"{cls.__name__}.{field} is encrypted: it cannot be selected")
        return Subquery(cls, field, filters, include_deleted)

    async def _holds(self, subquery: Subquery, value: Any) -> bool:
        """Whether ``subquery`` (of this repository) selects ``value``: ``Subquery.contains``."""
        filters = prepare_filters(
            (Filter(subquery.field, Op.EQ, value), *subquery.filters),
            self.mapper(),
            None,
            "f",
            self.keyring,
        )
        return await self._exists(filters, "all" if subquery.include_deleted else "live")

    @classmethod
    def has(cls, column: str) -> bool:
        """True if the table has the standard column ``column``."""
        names = _COLUMN_NAMES.get(cls)
        if names is None:
            names = _COLUMN_NAMES[cls] = frozenset(cls.table().c.keys())
        return column in names

    @classmethod
    def visibility_clauses(cls, visibility: Visibility) -> builtins.list[ColumnElement[bool]]:
        """Conditions selecting live, deleted or all rows (G1)."""
        if visibility == "all" or not cls.has("deleted_at"):
            return []
        col = cls.table().c.deleted_at
        return [col.is_(None) if visibility == "live" else col.is_not(None)]

    @property
    def statements(self) -> StatementCache:
        """The compiled-statement cache in use."""
        return self.target.statements

    @property
    def _pk(self) -> Column[Any]:
        (pk,) = self.table().primary_key.columns
        return pk

    # ------------------------------------------------------------------ statement helpers

    def _columns(self) -> builtins.list[Column[Any]]:
        table = self.table()
        return [table.c[c] for c in self.mapper().columns]

    def _where(
        self, filters: FilterSet | None, visibility: Visibility
    ) -> builtins.list[ColumnElement[bool]]:
        cols = self.table().c
        clauses = self.visibility_clauses(visibility)
        clauses += build_filter_clauses(self._scope.shape, cols, "s")
        if filters is not None:
            clauses += build_filter_clauses(filters.shape, cols, "f")
        return clauses

    def _params(self, filters: FilterSet | None, **extra: Any) -> dict[str, Any]:
        params = dict(self._scope.params)
        if filters is not None:
            params.update(filters.params)
        params.update(extra)
        return params

    def _filters(self, filters: Sequence[Filter]) -> FilterSet:
        return prepare_filters(filters, self.mapper(), self.allowed_filters(), "f", self.keyring)

    @staticmethod
    def _visibility(include_deleted: bool, only_deleted: bool) -> Visibility:
        if only_deleted:
            return "deleted"
        return "all" if include_deleted else "live"

    def _key(self, *parts: Any) -> tuple[Any, ...]:
        return (type(self), self._scope.shape, *parts)

    def _entities(self, rows: builtins.list[builtins.list[Any]]) -> builtins.list[E]:
        """Entities from rows selected with :meth:`_columns` (converted, in column order)."""
        mapper = self.mapper()
        if mapper.encryption is not None:
            mapper.encryption.open_rows(rows, self.keyring)
        return mapper.from_rows(rows)

    def _entity(self, row: builtins.list[Any]) -> E:
        """:meth:`_entities` of one row."""
        mapper = self.mapper()
        if mapper.encryption is not None:
            mapper.encryption.open_rows([row], self.keyring)
        entity: E = mapper.from_values(row)
        return entity

    def _read(self) -> AbstractAsyncContextManager[Connection]:
        """A connection for a read, its driver errors raised as domain errors."""
        return _Reading(self)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[tuple[UnitOfWork, Connection]]:
        with self._translated():
            async with self.target.writing() as uow, uow.connection() as conn:
                yield uow, conn

    def _translated(self) -> AbstractContextManager[None]:
        """Raise driver errors as the domain errors they stand for."""
        return _Translated(self)

    def _raise_domain_error(self, exc: BaseException) -> None:
        """Raise the domain error ``exc`` stands for, if it stands for one."""
        if isinstance(exc, Exception):
            error = self._domain_error(exc)
            if error is not None and error is not exc:
                raise error from exc

    def _domain_error(self, exc: BaseException) -> BaseException | None:
        """The domain error a driver error stands for in this repository's table, or None
        (also what a write staged on a connection raises if it fails in a later call)."""
        return translate(
            exc, entity=self.entity_name(), table=self.table(), field_name=self.mapper().field_for
        )

    # ------------------------------------------------------------------ reads

    async def get(
        self,
        id: UUID,
        *,
        include_deleted: bool = False,
        load: Sequence[str] = (),
        for_share: bool = False,
        for_update: bool = False,
    ) -> E:
        """The entity with this id; raises :class:`NotFound` (also for a soft-deleted one).

        ``for_share`` (inside a unit of work) keeps the row as read until the
        unit ends: others' changes and deletes of it wait, while readers and
        other ``for_share`` holders do not (``FOR SHARE`` on PostgreSQL; on
        SQLite the unit's write transaction already holds the database). Use
        it on the parent a child is added to, so the parent cannot be deleted
        between the check and the commit.

        ``for_update`` (inside a unit of work) holds the row for a change to
        come: others' ``for_update`` reads, changes and deletes wait until the
        unit ends, so a decision made on what was read still holds when it is
        written (``FOR NO KEY UPDATE`` on PostgreSQL: children can still be
        added meanwhile).
        """
        found = await self.get_or_none(
            id,
            include_deleted=include_deleted,
            load=load,
            for_share=for_share,
            for_update=for_update,
        )
        if found is None:
            raise NotFound(self.entity_name(), id)
        return found

    async def get_or_none(
        self,
        id: UUID,
        *,
        include_deleted: bool = False,
        load: Sequence[str] = (),
        for_share: bool = False,
        for_update: bool = False,
    ) -> E | None:
        """The entity with this id, or None (``for_share``, ``for_update``: see :meth:`get`)."""
        if (for_share or for_update) and not isinstance(self.target, UnitOfWork):
            raise TypeError("for_share and for_update hold a row until a unit of work ends")
        if for_share and for_update:
            raise TypeError("for_share or for_update, not both")
        lock = "update" if for_update else "share" if for_share else None
        visibility = self._visibility(include_deleted, False)

        def build() -> Any:
            stmt = select(*self._columns()).where(
                self._pk == bindparam("id", type_=self._pk.type), *self._where(None, visibility)
            )
            if lock == "share":
                return stmt.with_for_update(read=True)
            return stmt.with_for_update(key_share=True) if lock == "update" else stmt

        stmt = self.statements.get(self._key("get", visibility, lock), build)
        async with self._read() as conn:
            rows = await stmt.fetch_values(conn, self._params(None, id=id))
            entities = self._entities(rows)
            if load and entities:
                entities = await self._load(conn, entities, load)
        return entities[0] if entities else None

    async def get_many(
        self, ids: Sequence[UUID], *, include_deleted: bool = False, load: Sequence[str] = ()
    ) -> builtins.list[E]:
        """The entities with these ids that exist, in the order of ``ids``."""
        unique = list(dict.fromkeys(ids))
        if not unique:
            return []
        visibility = self._visibility(include_deleted, False)
        found: dict[Any, E] = {}
        async with self._read() as conn:
            for part in chunks(unique):
                size = len(part)
                stmt = self.statements.get(
                    self._key("get_many", visibility, size),
                    lambda size=size: select(*self._columns()).where(  # type: ignore[misc]
                        self._pk.in_(
                            [bindparam(f"i{i}", type_=self._pk.type) for i in range(size)]
                        ),
                        *self._where(None, visibility),
                    ),
                )
                params = self._params(None, **{f"i{i}": v for i, v in enumerate(part)})
                for entity in self._entities(await stmt.fetch_values(conn, params)):
                    found[entity.id] = entity
            entities = [found[i] for i in unique if i in found]
            if load:
                entities = await self._load(conn, entities, load)
        return entities

    async def list(
        self,
        *filters: Filter,
        order_by: Sequence[str] = (),
        limit: int | None = None,
        offset: int = 0,
        include_deleted: bool = False,
        only_deleted: bool = False,
        load: Sequence[str] = (),
    ) -> builtins.list[E]:
        """Entities matching every filter, in the given order (fields from ``sortable``)."""
        fs = self._filters(filters)
        order = self._order(order_by)
        visibility = self._visibility(include_deleted, only_deleted)
        return await self._select(fs, order, visibility, limit, offset, None, load)

    async def page(
        self,
        *filters: Filter,
        order_by: Sequence[str] = (),
        limit: int = 50,
        offset: int = 0,
        with_total: bool = False,
        include_deleted: bool = False,
        only_deleted: bool = False,
        load: Sequence[str] = (),
    ) -> OffsetPage[E]:
        """A page by offset; ``with_total`` also counts every match (one more query)."""
        self._check_page(limit, offset)
        fs = self._filters(filters)
        order = self._order(order_by)
        visibility = self._visibility(include_deleted, only_deleted)
        items = await self._select(fs, order, visibility, limit, offset, None, load)
        total = await self._count(fs, visibility) if with_total else None
        return OffsetPage(items, limit, offset, total)

    async def keyset_page(
        self,
        *filters: Filter,
        order_by: Sequence[str] = (),
        limit: int = 50,
        cursor: str | None = None,
        include_deleted: bool = False,
        only_deleted: bool = False,
        load: Sequence[str] = (),
    ) -> CursorPage[E]:
        """A page after ``cursor`` (None for the first), with the cursor of the next page.

        Following the cursors returns every matching row exactly once, however
        many rows share the same sort values (G6). A cursor that was altered or
        made for another ordering raises :class:`InvalidInput`.
        """
        self._check_page(limit, 0)
        fs = self._filters(filters)
        order = self._order(order_by)
        visibility = self._visibility(include_deleted, only_deleted)
        secret, mapper = self.target_secret(), self.mapper()
        after = None if cursor is None else position_of(secret, order, mapper, cursor)
        items = await self._select(fs, order, visibility, limit + 1, 0, after, load)
        next_cursor = None
        if len(items) > limit:
            items = items[:limit]
            next_cursor = cursor_after(secret, order, mapper, items[-1])
        return CursorPage(items, next_cursor)

    async def count(
        self, *filters: Filter, include_deleted: bool = False, only_deleted: bool = False
    ) -> int:
        """How many entities match."""
        return await self._count(
            self._filters(filters), self._visibility(include_deleted, only_deleted)
        )

    async def sum(
        self,
        field: str,
        *filters: Filter,
        include_deleted: bool = False,
        only_deleted: bool = False,
    ) -> int | Decimal:
        """The sum of a numeric ``field`` over the entities that match (0 when none): a
        ``Decimal`` for a decimal field, an ``int`` otherwise (computed by the database)."""
        column = self.mapper().column_for(field)
        numeric = column is not None and isinstance(column.type, Integer | Numeric)
        if column is None or not numeric or self.mapper().encrypted(column.name) is not None:
            raise MappingError(f"{type(self).__name__}: {field!r} is no numeric column")
        fs, visibility = self._filters(filters), self._visibility(include_deleted, only_deleted)
        stmt = self.statements.get(
            self._key("sum", column.name, fs.shape, visibility),
            lambda: (
                select(func.coalesce(func.sum(column), 0).label("total"))
                .select_from(self.table())
                .where(*self._where(fs, visibility))
            ),
        )
        async with self._read() as conn:
            rows = await stmt.fetch(conn, self._params(fs))
        total = rows[0]["total"]
        if isinstance(column.type, Integer) or isinstance(total, int):
            return int(total)
        return Decimal(str(total))

    async def exists(
        self, *filters: Filter, include_deleted: bool = False, only_deleted: bool = False
    ) -> bool:
        """True if at least one entity matches."""
        return await self._exists(
            self._filters(filters), self._visibility(include_deleted, only_deleted)
        )

    async def history(self, id: UUID) -> builtins.list[AuditEntry]:
        """The audit entries of one entity, oldest first."""
        return await audit.history(self.target, self.entity_name(), id)

    # ------------------------------------------------------------------ read internals

    def _database(self) -> Database:
        return self.target if isinstance(self.target, Database) else self.target.db

    def target_secret(self) -> bytes:
        """The key signing cursors."""
        return self._database().secret_key

    @staticmethod
    def _check_page(limit: int, offset: int) -> None:
        if not isinstance(limit, int) or limit < 1:
            raise InvalidInput.for_field("limit", "must be a positive integer")
        if not isinstance(offset, int) or offset < 0:
            raise InvalidInput.for_field("offset", "must be zero or more")

    def _order(self, order_by: Sequence[str]) -> OrderShape:
        mapper = self.mapper()
        if isinstance(order_by, str):
            order_by = [order_by]
        return parse_order(
            order_by, mapper, frozenset(self.sortable), self.default_order, self._pk.name
        )

    async def _select(
        self,
        fs: FilterSet,
        order: OrderShape,
        visibility: Visibility,
        limit: int | None,
        offset: int,
        after: builtins.list[Any] | None,
        load: Sequence[str],
    ) -> builtins.list[E]:
        for name in load:
            self.relation(name)
        nulls = tuple(v is None for v in after) if after is not None else None
        cols = self.table().c

        def build() -> Any:
            stmt = select(*self._columns()).where(*self._where(fs, visibility))
            if nulls is not None:
                stmt = stmt.where(keyset_clause(order, cols, nulls, "k"))
            stmt = stmt.order_by(*order_clauses(order, cols))
            if limit is not None:
                stmt = stmt.limit(bindparam("limit"))
            if offset:
                stmt = stmt.offset(bindparam("offset"))
            return stmt

        key = self._key(
            "select", fs.shape, order, visibility, limit is not None, bool(offset), nulls
        )
        stmt = self.statements.get(key, build)
        params = self._params(fs, limit=limit, offset=offset)
        if after is not None:
            for i, ((column, _), value) in enumerate(zip(order, after, strict=True)):
                params[f"k{i}"] = storable(value, cols[column])
        async with self._read() as conn:
            entities = self._entities(await stmt.fetch_values(conn, params))
            if load and entities:
                entities = await self._load(conn, entities, load)
        return entities

    async def _exists(self, fs: FilterSet, visibility: Visibility) -> bool:
        stmt = self.statements.get(
            self._key("exists", fs.shape, visibility),
            lambda: select(self._pk).where(*self._where(fs, visibility)).limit(1),
        )
        async with self._read() as conn:
            return bool(await stmt.fetch(conn, self._params(fs)))

    async def _count(self, fs: FilterSet, visibility: Visibility) -> int:
        stmt = self.statements.get(
            self._key("count", fs.shape, visibility),
            lambda: (
                select(func.count().label("n"))
                .select_from(self.table())
                .where(*self._where(fs, visibility))
            ),
        )
        async with self._read() as conn:
            rows = await stmt.fetch(conn, self._params(fs))
        return int(rows[0]["n"])

    async def _load(
        self, conn: Connection, entities: builtins.list[E], load: Sequence[str]
    ) -> builtins.list[E]:
        return await load_relations(self, conn, entities, load)  # type: ignore[arg-type,return-value]


class _Translated(AbstractContextManager[None]):
    """:meth:`ReadOnlyRepository._translated` (a class: every repository call enters one)."""

    __slots__ = ("_repository",)

    def __init__(self, repository: ReadOnlyRepository[Any, Any]) -> None:
        self._repository = repository

    def __exit__(
        self,
        kind: type[BaseException] | None,
        failure: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if failure is not None:
            self._repository._raise_domain_error(failure)


class _Reading(AbstractAsyncContextManager[Connection]):
    """:meth:`ReadOnlyRepository._read`: its target's connection, driver errors raised as
    domain errors (a class: every read enters one)."""

    __slots__ = ("_borrowed", "_repository")

    def __init__(self, repository: ReadOnlyRepository[Any, Any]) -> None:
        self._repository = repository

    async def __aenter__(self) -> Connection:
        borrowed = self._borrowed = self._repository.target.connection()
        try:
            return await borrowed.__aenter__()
        except Exception as exc:
            self._repository._raise_domain_error(exc)
            raise

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        failure: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self._borrowed.__aexit__(kind, failure, traceback)
        except Exception as exc:  # the connection was lost
            self._repository._raise_domain_error(exc)
            raise
        if failure is not None:
            self._repository._raise_domain_error(failure)
