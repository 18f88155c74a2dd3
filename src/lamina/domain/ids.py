"""Time-ordered identifiers (UUID version 7, RFC 9562)."""

from __future__ import annotations

import os
import threading
import time
import uuid

_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)
_RAND_B_MASK = (1 << 62) - 1
_RAND_B_START_MASK = (1 << 61) - 1
"""A batch's first random part: leaves room for 2**61 increments within ``rand_b``."""
_COUNTER_BITS = 12
_lock = threading.Lock()
_last_position = 0
"""The last id's milliseconds and 12-bit counter, as ``ms << 12 | counter``."""
_RANDOM_BYTES = 10
_RANDOM_READ = 4096
"""Bytes of the OS's randomness read at a time (see :func:`_reserve`)."""
_random = b""
_random_at = 0


_new_object = object.__new__
_set_int = uuid.UUID.__dict__["int"].__set__
_set_is_safe = uuid.UUID.__dict__["is_safe"].__set__
_UNKNOWN = uuid.SafeUUID.unknown


def _uuid_from_int(value: int) -> uuid.UUID:
    # uuid.UUID(int=...) validates its argument; ours is in range by construction.
    made = _new_object(uuid.UUID)
    _set_int(made, value)
    _set_is_safe(made, _UNKNOWN)
    return made


def _reserve() -> tuple[int, int]:
    """The next position, after every position given out so far, and 80 random bits.

    A new millisecond starts its counter at a random value below 1024 (taken
    from the random bits); a counter that runs past 4095 borrows the next
    millisecond. The bits come from the OS's randomness, read ahead
    :data:`_RANDOM_READ` bytes at a time (a system call per id costs more than
    the rest of making it).
    """
    global _last_position, _random, _random_at
    with _lock:
        at = _random_at
        if at + _RANDOM_BYTES > len(_random):
            _random, at = os.urandom(_RANDOM_READ), 0
        _random_at = at + _RANDOM_BYTES
        random = int.from_bytes(_random[at : at + _RANDOM_BYTES], "big")
        start = (time.time_ns() // 1_000_000) << _COUNTER_BITS
        seed = random >> 64
        _last_position = start | (seed & 0x3FF) if start > _last_position else _last_position + 1
        return _last_position, random


def _forget_after_fork() -> None:
    """In a forked child: new randomness (never the parent's bytes read ahead) and a new lock."""
    global _lock, _random, _random_at
    _lock = threading.Lock()
    _random, _random_at = b"", 0


os.register_at_fork(after_in_child=_forget_after_fork)


def _value(position: int, random: int) -> int:
    ms, counter = position >> _COUNTER_BITS, position & 0xFFF
    return (ms << 80) | _VERSION_AND_VARIANT | (counter << 64) | (random & _RAND_B_MASK)


def uuid7() -> uuid.UUID:
    """Return a new UUID v7: 48 bits of Unix milliseconds, then randomness.

    Ids made by one process are strictly increasing, even within one
    millisecond (a 12-bit counter fills ``rand_a``), so they index well as
    primary keys and sort by creation time.
    """
    position, random = _reserve()
    return _uuid_from_int(_value(position, random))


def uuid7_batch(count: int) -> list[uuid.UUID]:
    """``count`` new UUID v7s, strictly increasing, ordered after every id made before.

    The batch shares one millisecond-and-counter slot; its random part starts
    at a random value (below 2**61, so it cannot overflow) and goes up by one
    per id: RFC 9562's "monotonic random" method. One clock read, one lock and
    one call for randomness for the whole batch.
    """
    if count <= 1:
        return [uuid7()] if count == 1 else []
    position, random = _reserve()
    first = _value(position, random & _RAND_B_START_MASK)
    make, set_int, set_is_safe = _new_object, _set_int, _set_is_safe
    made: list[uuid.UUID] = []
    append = made.append
    for value in range(first, first + count):
        # _uuid_from_int(value), inlined: this loop is the batch's whole cost
        one = make(uuid.UUID)
        set_int(one, value)
        set_is_safe(one, _UNKNOWN)
        append(one)
    return made


RUN_TAIL_BITS = 60
"""The low bits of a :func:`uuid7_run` id that count up through the run."""


def uuid7_run(count: int) -> tuple[str, int]:
    """``count`` new UUID v7s made as :func:`uuid7_batch` makes them (one slot, the random
    part counting up), given as the hex digits they share and the first value of the
    :data:`RUN_TAIL_BITS` they count up with: id ``i`` is ``head`` followed by ``tail + i``
    in 15 hex digits. For a database to write the ids of a batch itself.
    """
    mask = (1 << RUN_TAIL_BITS) - 1
    while True:
        position, random = _reserve()
        first = _value(position, random & _RAND_B_START_MASK)
        if (first & mask) + count <= mask:  # no carry out of the tail (else a new slot)
            return f"{first >> RUN_TAIL_BITS:017x}", first & mask


def uuid_hex(value: uuid.UUID) -> str:
    """``value.hex`` (32 lowercase hex digits), about twice as fast."""
    return value.int.to_bytes(16, "big").hex()


def uuid_text(value: uuid.UUID) -> str:
    """``str(value)`` (the 8-4-4-4-12 form), about twice as fast."""
    digits = value.int.to_bytes(16, "big").hex()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def uuid_from_hex(text: str) -> uuid.UUID:
    """``uuid.UUID(text)`` for 32 hex digits, several times as fast; any other form as usual."""
    if len(text) == 32 and "-" not in text:
        try:  # what uuid.UUID does with 32 characters free of "-", "{}", "urn:uuid:"
            return _uuid_from_int(int(text, 16))
        except ValueError:
            pass
    return uuid.UUID(text)
