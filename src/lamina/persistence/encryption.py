"""Encrypted fields: how a value is sealed into its column and opened again.

A value of an ``ENCRYPTED`` field is stored as **text**::

    v1:<key id>:<base64 of nonce (12 bytes) + AES-256-GCM ciphertext + tag (16 bytes)>

``v1`` is the format version and ``<key id>`` names the keyring key that
sealed it (:func:`key_id_of` reads it, so a rotation can find values under an
old key and :func:`reencrypt` them under the active one). The nonce is random
for each value, so equal plaintexts give different ciphertexts. The header and
the row's table, column and primary key are authenticated as associated data:
a value altered, or copied to another row or column, fails to open with
:class:`~lamina.domain.DecryptionFailed`, never a wrong value. The plaintext
is the UTF-8 of a ``str`` field, the JSON of any other type. NULL stays NULL
(whether a value is present is not hidden).
"""

from __future__ import annotations

import binascii
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from pydantic_core import to_json
from sqlalchemy import Text
from sqlalchemy.orm import MappedColumn, mapped_column

from lamina.domain.errors import DecryptionFailed
from lamina.persistence.blind_index import blind_index_of, blind_indexer
from lamina.persistence.keyring import Keyring

FORMAT_VERSION = "v1"
ENCRYPTED_INFO = "lamina_encrypted"
"""The ``Column.info`` flag :func:`encrypted_column` sets (how tools find encrypted columns)."""

NONCE_BYTES = 12
_PREFIX = f"{FORMAT_VERSION}\x00".encode()


def encrypted_column(*, nullable: bool = False) -> MappedColumn[Any]:
    """The column of an ``ENCRYPTED`` field: ``email: Mapped[str] = encrypted_column()``.

    A ``TEXT`` column holding the sealed value (never the plaintext), flagged
    so that ``lamina keys status`` finds it. Not indexable: see
    :func:`~lamina.persistence.blind_index_column` for lookups.
    """
    return mapped_column(Text, nullable=nullable, info={ENCRYPTED_INFO: True})


def key_id_of(stored: str) -> str:
    """The id of the key that sealed ``stored``; ``ValueError`` if it is not a sealed value."""
    version, key_id, _ = _split(stored)
    if version != FORMAT_VERSION or not key_id:
        raise ValueError("not a lamina encrypted value")
    return key_id


def _split(stored: str) -> tuple[str, str, str]:
    parts = stored.split(":", 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else ("", "", "")


_b2a = binascii.b2a_base64


def _pk_bytes(pk: Any) -> bytes:
    """A primary key as bound into the associated data: a UUID's 16 bytes, else its text."""
    return pk.bytes if isinstance(pk, UUID) else str(pk).encode()


def _bound_to(key_id: str, table: str, column: str) -> bytes:
    """The associated data up to the primary key (the same for every row of a column)."""
    return f"{FORMAT_VERSION}\x00{key_id}\x00{table}\x00{column}\x00".encode()


def _bound(key_id: str, table: str, column: str, pk: Any) -> bytes:
    """The associated data: format, key id and the row's place (table, column, primary key)."""
    return _bound_to(key_id, table, column) + _pk_bytes(pk)


def _sealed(
    header: str, encrypt: Callable[[bytes, bytes, bytes | None], bytes], bound: bytes, data: bytes
) -> str:
    """``data`` sealed by ``encrypt`` (a key's ``AESGCM.encrypt``) with the associated data
    ``bound``, a fresh random nonce, as stored: ``header`` + base64(nonce + ciphertext + tag)."""
    nonce = os.urandom(NONCE_BYTES)
    return header + _b2a(nonce + encrypt(nonce, data, bound), newline=False).decode("ascii")


def encrypt_value(plaintext: bytes, keyring: Keyring, table: str, column: str, pk: Any) -> str:
    """``plaintext`` sealed under the active key for ``table.column`` of the row ``pk``."""
    key_id, cipher = keyring.active()
    header = f"{FORMAT_VERSION}:{key_id}:"
    return _sealed(header, cipher.encrypt, _bound(key_id, table, column, pk), plaintext)


def decrypt_value(stored: str, keyring: Keyring, table: str, column: str, pk: Any) -> bytes:
    """The plaintext of ``stored``, read from ``table.column`` of the row ``pk``.

    :class:`~lamina.domain.EncryptionKeyMissing` if its key is not in the
    keyring; :class:`~lamina.domain.DecryptionFailed` if it was altered or moved.
    """
    version, key_id, body = _split(stored)
    if version != FORMAT_VERSION:
        raise DecryptionFailed(None, column, f"the stored value of {column} is not encrypted")
    cipher = keyring.cipher(key_id)
    try:
        raw = binascii.a2b_base64(body)
        return cipher.decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], _bound(key_id, table, column, pk)
        )
    except (InvalidTag, binascii.Error, ValueError):
        raise DecryptionFailed(key_id, column) from None


def reencrypt(stored: str, keyring: Keyring, table: str, column: str, pk: Any) -> str:
    """``stored`` opened and sealed again under the keyring's active key (for key rotation)."""
    return encrypt_value(
        decrypt_value(stored, keyring, table, column, pk), keyring, table, column, pk
    )


def _never(nonce: bytes, data: bytes, associated: bytes) -> bytes:
    raise AssertionError("no active key: no value starts with the header")  # pragma: no cover


_NO_HEADER = "\x00"
"""A header no stored value starts with (the keyring has no active key)."""


@dataclass(frozen=True, slots=True)
class EncryptedField:
    """One encrypted field of an entity and where its row keeps it."""

    field: str
    column: str
    position: int
    """Its index among the mapper's columns."""
    as_json: bool
    """True unless the field is a ``str`` (stored as UTF-8)."""
    blind_index: str | None
    """The column of its blind index, if it has one."""


_ReadStep = tuple[
    int, bool, EncryptedField, str, int, Callable[[bytes, bytes, bytes], bytes], bytes
]
"""Per field: its position, whether it is JSON, the field, and the active key's header, the
header's length, ``decrypt`` and the associated data up to the primary key."""


_WriteStep = tuple[
    int,
    EncryptedField,
    str,
    Callable[[bytes, bytes, bytes | None], bytes],
    bytes,
    Callable[[bytes], str] | None,
]
"""Per field: its position, the field, and the active key's header, ``encrypt`` and the
associated data up to the primary key, and its blind indexer (None: no blind index)."""


class FieldEncryption:
    """Seals and opens the encrypted fields of one entity's rows (built by its mapper)."""

    def __init__(
        self, table: str, fields: Sequence[EncryptedField], pk_column: str, pk_position: int
    ) -> None:
        self.table = table
        self.fields = tuple(fields)
        self.by_column = {f.column: f for f in self.fields}
        self.pk_column = pk_column
        self.pk_position = pk_position
        self.indexed = tuple(f for f in self.fields if f.blind_index is not None)
        self.blind_index_columns: tuple[str, ...] = tuple(
            f.blind_index for f in self.indexed if f.blind_index is not None
        )
        # Per field, what reads need: its position and its place in the associated data.
        self._reads = tuple(
            (f.position, f"\x00{table}\x00{f.column}\x00".encode(), f.as_json, f)
            for f in self.fields
        )
        self._plan: tuple[Keyring, str | None, tuple[_ReadStep, ...]] | None = None
        self._sealing: tuple[Keyring, str, tuple[_WriteStep, ...]] | None = None

    @staticmethod
    def plaintext(field: EncryptedField, value: Any) -> bytes:
        """The bytes a value of ``field`` is encrypted (and blind-indexed) as."""
        return to_json(value) if field.as_json else str(value).encode()

    def index_value(self, field: EncryptedField, value: Any, keyring: Keyring) -> str:
        """The blind-index digest of ``value`` of ``field`` (for writes and lookups)."""
        assert field.blind_index is not None
        return blind_index_of(
            keyring.index_key, self.table, field.column, self.plaintext(field, value)
        )

    def _write_plan(self, keyring: Keyring) -> tuple[_WriteStep, ...]:
        """Per field, what :meth:`seal_rows` needs under ``keyring`` (made once per keyring):
        the active key's header, ``encrypt`` and associated data up to the primary key,
        and the field's blind indexer."""
        key_id, cipher = keyring.active()  # EncryptionKeyMissing without an active key
        cached = self._sealing
        if cached is not None and cached[0] is keyring and cached[1] == key_id:
            return cached[2]
        index_key: bytes | None = None
        if self.indexed and keyring.has_index_key:
            index_key = keyring.index_key

        def indexer(f: EncryptedField) -> Callable[[bytes], str]:
            if index_key is not None:
                return blind_indexer(index_key, self.table, f.column)

            def refuse(data: bytes) -> str:  # no index key: an error when a digest is needed
                return blind_index_of(keyring.index_key, self.table, f.column, data)

            return refuse

        plan = tuple(
            (
                f.position,
                f,
                f"{FORMAT_VERSION}:{key_id}:",
                cipher.encrypt,
                _bound_to(key_id, self.table, f.column),
                None if f.blind_index is None else indexer(f),
            )
            for f in self.fields
        )
        self._sealing = (keyring, key_id, plan)
        return plan

    def seal_rows(self, rows: Sequence[list[Any]], keyring: Keyring) -> None:
        """Encrypt the fields of rows given in mapper column order, in place, and append
        their blind-index digests (in the order of :attr:`blind_index_columns`).

        :func:`encrypt_value` inlined, with each field's header, ``encrypt``,
        associated data and blind indexer made once per keyring (:meth:`_write_plan`).
        """
        pk_at, plaintext, sealed = self.pk_position, self.plaintext, _sealed
        if not any(row[f.position] is not None for row in rows for f in self.fields):
            for row in rows:  # nothing to seal: no key needed
                row.extend([None] * len(self.indexed))
            return
        plan = self._write_plan(keyring)
        for row in rows:
            pk = _pk_bytes(row[pk_at])
            digests: list[str | None] = []
            for position, f, header, encrypt, bound, indexer in plan:
                value = row[position]
                if value is None:
                    if indexer is not None:
                        digests.append(None)
                    continue
                data = plaintext(f, value)
                if indexer is not None:
                    digests.append(indexer(data))
                row[position] = sealed(header, encrypt, bound + pk, data)
            row.extend(digests)

    def seal_columns(self, values: dict[str, Any], pk: Any, keyring: Keyring) -> None:
        """Encrypt the encrypted columns among ``values`` (by column name) in place, with
        their blind-index digests added."""
        if all(values.get(f.column) is None for f in self.fields):
            for f in self.fields:  # nothing to seal: no key needed
                if f.column in values and f.blind_index is not None:
                    values[f.blind_index] = None
            return
        pk_bytes = _pk_bytes(pk)
        for _, f, header, encrypt, bound, indexer in self._write_plan(keyring):
            if f.column not in values:
                continue
            value = values[f.column]
            if value is None:
                if f.blind_index is not None:
                    values[f.blind_index] = None
                continue
            data = self.plaintext(f, value)
            if indexer is not None and f.blind_index is not None:
                values[f.blind_index] = indexer(data)
            values[f.column] = _sealed(header, encrypt, bound + pk_bytes, data)

    def _open(self, f: EncryptedField, stored: str, pk: Any, keyring: Keyring) -> Any:
        try:
            data = decrypt_value(stored, keyring, self.table, f.column, pk)
        except DecryptionFailed as error:
            raise DecryptionFailed(error.key_id, f.field) from None
        return json.loads(data) if f.as_json else data.decode()

    def _read_plan(self, keyring: Keyring) -> tuple[_ReadStep, ...]:
        """Per field, what :meth:`open_rows` needs under ``keyring`` (made once per keyring)."""
        cached, active = self._plan, keyring.active_id
        if cached is not None and cached[0] is keyring and cached[1] == active:
            return cached[2]
        plan = []
        for position, place, as_json, f in self._reads:
            decrypt: Callable[[bytes, bytes, bytes], bytes] = _never
            header, bound = _NO_HEADER, b""
            if active is not None:
                header = f"{FORMAT_VERSION}:{active}:"
                decrypt, bound = keyring.openers(place)[active]
            plan.append((position, as_json, f, header, len(header), decrypt, bound))
        self._plan = (keyring, active, tuple(plan))
        return self._plan[2]

    def open_rows(self, rows: Sequence[list[Any]], keyring: Keyring) -> None:
        """Decrypt the fields of rows given in mapper column order, in place.

        :func:`decrypt_value` inlined, a field (column) at a time: the header of the
        active key, its ``decrypt`` and the associated data up to the primary key are
        made once per keyring (:meth:`_read_plan`), so a value under the active key
        (all of them but during a rotation) costs a prefix test, a base64 decoding,
        the AES-GCM call and the UTF-8 (or JSON) decoding. A value under another key,
        or that is not a sealed value at all, takes :func:`decrypt_value`'s path.
        """
        if not rows:
            return
        pk_at, a2b, loads, n = self.pk_position, binascii.a2b_base64, json.loads, NONCE_BYTES
        pks = [_pk_bytes(row[pk_at]) for row in rows]
        for position, as_json, f, header, cut, decrypt, bound in self._read_plan(keyring):
            for row, pk in zip(rows, pks, strict=True):
                stored = row[position]
                if stored is None:
                    continue
                if not stored.startswith(header):  # another key's value (or not one at all)
                    row[position] = self._open(f, stored, row[pk_at], keyring)
                    continue
                try:
                    raw = a2b(stored[cut:])
                    data = decrypt(raw[:n], raw[n:], bound + pk)
                except (InvalidTag, binascii.Error, ValueError):
                    raise DecryptionFailed(keyring.active_id, f.field) from None
                row[position] = loads(data) if as_json else data.decode()

    def open_columns(self, row: dict[str, Any], keyring: Keyring) -> None:
        """Decrypt the encrypted columns of a row given by column name, in place."""
        pk = row[self.pk_column]
        for f in self.fields:
            stored = row.get(f.column)
            if stored is not None:
                row[f.column] = self._open(f, stored, pk, keyring)
