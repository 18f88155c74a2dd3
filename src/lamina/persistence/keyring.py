"""The keys of encrypted fields and blind indexes, read from configuration, never the database.

A keyring holds encryption keys by id: the **active** one encrypts every new
value, the others only decrypt values written before a rotation. It is written
as ``id=key`` entries (the key: 32 random bytes, base64), the active one
first, separated by commas or newlines::

    LAMINA_KEYS="k2026b=2H8u...,k2026a=Zq1P..."

or put in a file named by ``LAMINA_KEYS_FILE`` (one entry per line, ``#``
comments allowed). The blind-index key (see :mod:`lamina.persistence.blind_index`)
is separate: ``LAMINA_INDEX_KEY``, or ``index=...`` in the key file. ``lamina keys
new`` prints a fresh entry.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lamina.domain.errors import EncryptionKeyMissing

KEYS_VAR = "LAMINA_KEYS"
KEYS_FILE_VAR = "LAMINA_KEYS_FILE"
INDEX_KEY_VAR = "LAMINA_INDEX_KEY"
INDEX_ENTRY = "index"
"""The entry of a key file holding the blind-index key rather than an encryption key."""

KEY_BYTES = 32

Opener = tuple[Callable[[bytes, bytes, bytes], bytes], bytes]
"""A key's bound ``AESGCM.decrypt`` and the associated data of one column, up to the
primary key (see :meth:`Keyring.openers`)."""
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


class KeyringError(ValueError):
    """The keyring configuration cannot be read (bad entry, id or key length)."""


def decode_key(text: str, name: str) -> bytes:
    """The 32 bytes of a base64 key (standard or URL-safe alphabet, padding optional)."""
    cleaned = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    try:
        raw = base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except ValueError:
        raise KeyringError(f"key {name!r} is not base64") from None
    if len(raw) != KEY_BYTES:
        raise KeyringError(f"key {name!r} must be {KEY_BYTES} bytes, not {len(raw)}")
    return raw


def encode_key(raw: bytes) -> str:
    """A key as configured: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def new_key() -> str:
    """A fresh random 256-bit key, encoded as the keyring configuration expects."""
    return encode_key(secrets.token_bytes(KEY_BYTES))


def check_key_id(key_id: str) -> str:
    """``key_id`` if it is 1-32 letters, digits, ``-`` or ``_``; else :class:`KeyringError`."""
    if not _KEY_ID.fullmatch(key_id):
        raise KeyringError(f"key id {key_id!r} must be 1-32 letters, digits, '-' or '_'")
    return key_id


class Keyring:
    """Encryption keys by id (the first, or ``active``, encrypts) and the blind-index key.

    Build one with :meth:`from_env` (what :class:`~lamina.persistence.Database`
    does by default), :meth:`parse`, or directly from raw 32-byte keys. Its
    ``repr`` never shows a key.
    """

    def __init__(
        self,
        keys: Mapping[str, bytes] | Iterable[tuple[str, bytes]] = (),
        *,
        active: str | None = None,
        index_key: bytes | None = None,
    ) -> None:
        pairs = list(keys.items() if isinstance(keys, Mapping) else keys)
        self._ciphers: dict[str, AESGCM] = {}
        for key_id, raw in pairs:
            check_key_id(key_id)
            if key_id in self._ciphers:
                raise KeyringError(f"key id {key_id!r} appears twice")
            if len(raw) != KEY_BYTES:
                raise KeyringError(f"key {key_id!r} must be {KEY_BYTES} bytes")
            self._ciphers[key_id] = AESGCM(raw)
        if active is None and pairs:
            active = pairs[0][0]
        if active is not None and active not in self._ciphers:
            raise KeyringError(f"the active key {active!r} is not in the keyring")
        if index_key is not None and len(index_key) != KEY_BYTES:
            raise KeyringError(f"the blind-index key must be {KEY_BYTES} bytes")
        self._openers: dict[bytes, dict[str, Opener]] = {}
        self.active_id: str | None = active
        """The id of the key new values are encrypted with (None: encryption impossible)."""
        self._index_key = index_key

    @classmethod
    def parse(cls, text: str, *, index_key: str | None = None) -> Keyring:
        """A keyring from ``id=key`` entries (comma or newline separated, the first active;
        ``#`` starts a comment; an ``index=key`` entry is the blind-index key)."""
        pairs: list[tuple[str, bytes]] = []
        index = decode_key(index_key, INDEX_ENTRY) if index_key else None
        for line in text.splitlines():
            for entry in line.split("#", 1)[0].split(","):
                if not entry.strip():
                    continue
                key_id, sep, key = entry.partition("=")
                key_id = key_id.strip()
                if not sep:
                    raise KeyringError(f"a keyring entry is 'id=key', not {key_id[:8]!r}...")
                if key_id == INDEX_ENTRY:
                    index = decode_key(key, INDEX_ENTRY)
                else:
                    pairs.append((check_key_id(key_id), decode_key(key, key_id)))
        return cls(pairs, index_key=index)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Keyring:
        """The keyring of ``$LAMINA_KEYS``, else of the file ``$LAMINA_KEYS_FILE``, with the
        blind-index key of ``$LAMINA_INDEX_KEY`` (or the file's ``index`` entry).

        Empty when nothing is configured: entities without encrypted fields
        need no key, and the first encrypted write says what is missing.
        """
        env = os.environ if environ is None else environ
        text = env.get(KEYS_VAR, "")
        path = env.get(KEYS_FILE_VAR)
        if not text and path:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as error:
                raise KeyringError(f"cannot read {KEYS_FILE_VAR}={path}: {error}") from None
        return cls.parse(text, index_key=env.get(INDEX_KEY_VAR) or None)

    def __repr__(self) -> str:
        return f"Keyring(active={self.active_id!r}, ids={self.key_ids!r})"

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of every key, the active one first."""
        rest = tuple(k for k in self._ciphers if k != self.active_id)
        return (self.active_id, *rest) if self.active_id is not None else rest

    @property
    def ciphers(self) -> Mapping[str, AESGCM]:
        """The AES-GCM cipher of every key, by key id."""
        return self._ciphers

    def cipher(self, key_id: str) -> AESGCM:
        """The AES-GCM cipher of key ``key_id``; :class:`EncryptionKeyMissing` if absent."""
        found = self._ciphers.get(key_id)
        if found is None:
            raise EncryptionKeyMissing(key_id)
        return found

    def openers(self, place: bytes) -> Mapping[str, Opener]:
        """For each key id, its ``decrypt`` and the associated data ``v1\\0<key id>`` +
        ``place`` (a column's table and name), made once: reading a page opens many values.
        """
        found = self._openers.get(place)
        if found is None:
            found = self._openers[place] = {
                key_id: (cipher.decrypt, b"v1\x00" + key_id.encode() + place)
                for key_id, cipher in self._ciphers.items()
            }
        return found

    def active(self) -> tuple[str, AESGCM]:
        """The active key's id and cipher; :class:`EncryptionKeyMissing` if there is none."""
        if self.active_id is None:
            raise EncryptionKeyMissing(None)
        return self.active_id, self._ciphers[self.active_id]

    @property
    def has_index_key(self) -> bool:
        """True if a blind-index key is configured."""
        return self._index_key is not None

    @property
    def index_key(self) -> bytes:
        """The blind-index key; :class:`EncryptionKeyMissing` if none is configured."""
        if self._index_key is None:
            raise EncryptionKeyMissing(
                None, f"no blind-index key: configure {INDEX_KEY_VAR} (or 'index=' in the key file)"
            )
        return self._index_key
