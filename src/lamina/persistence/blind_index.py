"""Blind indexes: equality lookups and unique rules on an encrypted field without its plaintext.

The row declares, next to the encrypted column ``email``, a column named
``email_bidx`` (:data:`BLIND_INDEX_SUFFIX`) with :func:`blind_index_column`. It
holds a keyed HMAC-SHA256 of the value under the keyring's blind-index key (not
an encryption key), bound to the table and column, so equal values in two
tables do not match. ``where("email") == x`` and ``in_`` then compare these
digests, and a unique index on the column refuses a second equal value
(:class:`~lamina.domain.AlreadyExists` naming the field). The digest reveals
which rows hold equal values, nothing more; guessing it takes the key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import MappedColumn, mapped_column

BLIND_INDEX_SUFFIX = "_bidx"
"""The blind index of column ``c`` is the column ``c_bidx``."""

DIGEST_LENGTH = 64
"""Characters of a stored blind-index value (HMAC-SHA256 in hex)."""


def blind_index_column(*, unique: bool = False) -> MappedColumn[Any]:
    """The column of a blind index: ``email_bidx: Mapped[str | None] = blind_index_column()``.

    Indexed (``unique=True`` for a unique rule), NULL when the value is.
    Migrations create it like any column; the repository fills it on every write.
    """
    return mapped_column(String(DIGEST_LENGTH), nullable=True, index=not unique, unique=unique)


def blind_index_of(key: bytes, table: str, column: str, plaintext: bytes) -> str:
    """The blind-index digest of ``plaintext`` stored in ``table.column`` (hex HMAC-SHA256)."""
    message = b"%s\x00%s\x00%s" % (table.encode(), column.encode(), plaintext)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def blind_indexer(key: bytes, table: str, column: str) -> Callable[[bytes], str]:
    """:func:`blind_index_of` for one key and column, its HMAC state keyed (and fed the
    table and column) once: each digest then copies that state, adds the plaintext and
    finishes, with no key setup or digest lookup per value (writes of many rows)."""
    keyed = hmac.new(key, b"%s\x00%s\x00" % (table.encode(), column.encode()), hashlib.sha256)

    def digest(plaintext: bytes) -> str:
        state = keyed.copy()
        state.update(plaintext)
        return state.hexdigest()

    return digest
