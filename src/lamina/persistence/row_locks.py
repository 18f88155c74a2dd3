"""Which row lock a write takes on PostgreSQL, so concurrent writers never deadlock (G15).

PostgreSQL has four row lock strengths. An INSERT of a child row takes
``FOR KEY SHARE`` on the parent row its foreign key points to; an UPDATE that
leaves the key columns alone takes ``FOR NO KEY UPDATE``; a DELETE, or an
UPDATE changing a key column, takes ``FOR UPDATE``. ``KEY SHARE`` conflicts
only with ``FOR UPDATE``. So a repository that locks a row before changing it
asks for ``FOR NO KEY UPDATE`` unless the change may delete the row or touch a
key column: two transactions that each insert a child and then update the
parent then queue behind each other instead of deadlocking.

SQLite has no row locks (a write transaction holds the whole database), so
none of this applies there.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import Column, Index, Table, UniqueConstraint


@cache
def key_columns(table: Table) -> frozenset[str]:
    """The columns PostgreSQL treats as keys of ``table``'s rows.

    Those of the primary key and of every unique constraint or unique index
    that is neither partial nor on expressions: the ones a foreign key can
    refer to, whose change makes an UPDATE take ``FOR UPDATE``.
    """
    names = {c.name for c in table.primary_key.columns}
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            names.update(c.name for c in constraint.columns)
    for index in table.indexes:
        if _is_key_index(index):
            names.update(c.name for c in index.columns)
    names.update(c.name for c in table.columns if c.unique)
    return frozenset(names)


def _is_key_index(index: Index) -> bool:
    if not index.unique or index.dialect_options["postgresql"].get("where") is not None:
        return False
    return all(isinstance(expression, Column) for expression in index.expressions)
