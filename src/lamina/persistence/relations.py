"""Eager loading of declared relationships in one query per relationship (no N+1)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, FromClause, bindparam, inspect, select
from sqlalchemy.orm import RelationshipProperty

from lamina.domain.entity import Entity
from lamina.persistence.connection import Connection
from lamina.persistence.mapping import MappingError

if TYPE_CHECKING:
    from lamina.persistence.read_repository import ReadOnlyRepository

CHUNK = 500
"""Most keys in one IN list; larger sets are loaded in several chunks."""


def bucket(n: int) -> int:
    """The statement size used for ``n`` keys: the next power of two up to :data:`CHUNK`.

    Padding IN lists to a few fixed sizes keeps the compiled-statement cache small.
    """
    size = 1
    while size < n:
        size *= 2
    return min(size, CHUNK)


def chunks(keys: Sequence[Any]) -> list[list[Any]]:
    """``keys`` in chunks, each padded (by repeating its last key) to its bucket size."""
    out: list[list[Any]] = []
    for start in range(0, len(keys), CHUNK):
        part = list(keys[start : start + CHUNK])
        part += [part[-1]] * (bucket(len(part)) - len(part))
        out.append(part)
    return out


@dataclass(frozen=True)
class Relation:
    """How an entity field is loaded from a related repository."""

    field: str
    target: type[ReadOnlyRepository[Any, Any]]
    many: bool
    local_column: str  # the column of the owner holding the key
    remote: ColumnElement[Any]  # the column compared with it (on the target or the secondary)
    secondary: FromClause | None
    secondary_target_column: ColumnElement[Any] | None
    target_key: ColumnElement[Any] | None

    @classmethod
    def from_row(
        cls, row: type[Any], field: str, target: type[ReadOnlyRepository[Any, Any]]
    ) -> Relation:
        """Read the join from the SQLAlchemy ``relationship()`` named ``field`` on ``row``."""
        try:
            prop: RelationshipProperty[Any] = inspect(row).relationships[field]
        except KeyError:
            raise MappingError(f"{row.__name__} has no relationship {field!r} to load") from None
        if prop.secondary is not None:
            ((owner_col, sec_owner),) = prop.synchronize_pairs
            ((target_col, sec_target),) = prop.secondary_synchronize_pairs or []
            return cls(
                field,
                target,
                bool(prop.uselist),
                str(owner_col.name),
                sec_owner,
                prop.secondary,
                sec_target,
                target_col,
            )
        pairs = list(prop.local_remote_pairs or [])
        if len(pairs) != 1:
            raise MappingError(f"{row.__name__}.{field}: only single-column joins can be loaded")
        local, remote = pairs[0]
        return cls(field, target, bool(prop.uselist), str(local.name), remote, None, None, None)


async def load_relations(
    owner: ReadOnlyRepository[Any, Any],
    conn: Connection,
    entities: list[Entity],
    names: Sequence[str],
) -> list[Entity]:
    """``entities`` with the relationships ``names`` filled in, one query per relationship."""
    if not entities or not names:
        return entities
    updates: list[dict[str, Any]] = [{} for _ in entities]
    for name in names:
        relation = owner.relation(name)
        local_field = owner.mapper().field_for(relation.local_column)
        keys = [getattr(e, local_field) for e in entities]
        found = await _fetch_related(
            owner, relation, conn, [k for k in dict.fromkeys(keys) if k is not None]
        )
        for i, key in enumerate(keys):
            group = found.get(key, [])
            updates[i][name] = group if relation.many else (group[0] if group else None)
    return [e.model_copy(update=u) for e, u in zip(entities, updates, strict=True)]


async def _fetch_related(
    owner: ReadOnlyRepository[Any, Any], relation: Relation, conn: Connection, keys: list[Any]
) -> dict[Any, list[Entity]]:
    target = relation.target
    mapper = target.mapper()
    table = mapper.table
    groups: dict[Any, list[Entity]] = defaultdict(list)
    if not keys:
        return groups
    for part in chunks(keys):
        size = len(part)

        def build(size: int = size) -> Any:
            params = [bindparam(f"k{i}", type_=relation.remote.type) for i in range(size)]
            cols = [table.c[c] for c in mapper.columns]
            if relation.secondary is not None:
                assert relation.secondary_target_column is not None
                assert relation.target_key is not None
                stmt = select(relation.remote.label("__owner"), *cols).join_from(
                    table,
                    relation.secondary,
                    relation.target_key == relation.secondary_target_column,
                )
            else:
                stmt = select(relation.remote.label("__owner"), *cols)
            stmt = stmt.where(relation.remote.in_(params))
            for clause in target.visibility_clauses("live"):
                stmt = stmt.where(clause)
            return stmt.order_by(*table.primary_key.columns)

        key = (owner.__class__, "relation", relation.field, size)
        compiled = owner.statements.get(key, build)
        rows = await compiled.fetch(conn, {f"k{i}": k for i, k in enumerate(part)})
        seen: set[tuple[Any, Any]] = set()
        for row in rows:
            owner_key = row.pop("__owner")
            if mapper.encryption is not None:
                mapper.encryption.open_columns(row, owner.keyring)
            entity = mapper.from_columns(row)
            marker = (owner_key, entity.id)
            if marker in seen:
                continue
            seen.add(marker)
            groups[owner_key].append(entity)
    return groups
