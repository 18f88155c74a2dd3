"""Page results returned by repositories."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OffsetPage(Generic[T]):
    """A page found by offset; ``total`` is set when a count was asked for."""

    items: Sequence[T]
    limit: int
    offset: int
    total: int | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True, slots=True)
class CursorPage(Generic[T]):
    """A keyset page; pass ``next_cursor`` back to get the next one (None on the last page)."""

    items: Sequence[T]
    next_cursor: str | None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
