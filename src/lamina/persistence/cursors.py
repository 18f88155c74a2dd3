"""Opaque, tamper-evident keyset cursors.

A cursor carries the sort values of the last row of a page and the ordering it
belongs to, as JSON signed with HMAC-SHA256 under the database's secret key and
encoded URL-safe. A cursor that was altered, truncated, made for another
ordering or another secret is refused with :class:`InvalidInput`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from lamina.domain.errors import InvalidInput

_SIG_BYTES = 16
_MAX_CURSOR_CHARS = 4096


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(secret: bytes, ordering: str, values: list[Any]) -> str:
    """A signed cursor for ``values`` (JSON-compatible) under ``ordering``."""
    body = json.dumps({"o": ordering, "k": values}, separators=(",", ":")).encode()
    sig = hmac.new(secret, body, hashlib.sha256).digest()[:_SIG_BYTES]
    return _b64(sig + body)


def decode_cursor(secret: bytes, ordering: str, cursor: str) -> list[Any]:
    """The values of a cursor made by :func:`encode_cursor`; raises InvalidInput otherwise."""
    invalid = InvalidInput.for_field("cursor", "malformed or tampered cursor")
    if not isinstance(cursor, str) or not cursor or len(cursor) > _MAX_CURSOR_CHARS:
        raise invalid
    try:
        raw = _unb64(cursor)
    except (binascii.Error, ValueError):
        raise invalid from None
    sig, body = raw[:_SIG_BYTES], raw[_SIG_BYTES:]
    expected = hmac.new(secret, body, hashlib.sha256).digest()[:_SIG_BYTES]
    if len(sig) != _SIG_BYTES or not hmac.compare_digest(sig, expected):
        raise invalid
    try:
        data = json.loads(body)
    except ValueError:
        raise invalid from None
    if not isinstance(data, dict) or not isinstance(data.get("k"), list):
        raise invalid
    if data.get("o") != ordering:
        raise InvalidInput.for_field("cursor", "the cursor belongs to another sort order")
    values: list[Any] = data["k"]
    return values
