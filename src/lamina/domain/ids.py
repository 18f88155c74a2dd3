"""Time-ordered identifiers (UUID version 7, RFC 9562)."""

from __future__ import annotations

import os
import threading
import time
import uuid

_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)
_RAND_B_MASK = (1 << 62) - 1
_lock = threading.Lock()


def _uuid_from_int(value: int) -> uuid.UUID:
    # uuid.UUID(int=...) validates its argument; ours is in range by construction.
    made = object.__new__(uuid.UUID)
    object.__setattr__(made, "int", value)
    object.__setattr__(made, "is_safe", uuid.SafeUUID.unknown)
    return made
_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    """Return a new UUID v7: 48 bits of Unix milliseconds, then randomness.

    Ids made by one process are strictly increasing, even within one
    millisecond (a 12-bit counter fills ``rand_a``), so they index well as
    primary keys and sort by creation time.
    """
    global _last_ms, _counter
    random = int.from_bytes(os.urandom(10), "big")
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            _counter = (random >> 64) & 0x3FF
        else:
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
    value = (ms << 80) | _VERSION_AND_VARIANT | (counter << 64) | (random & _RAND_B_MASK)
    return _uuid_from_int(value)
