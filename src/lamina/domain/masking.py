"""Sensitive values shown masked: ``****1234`` instead of never.

A field marked ``SENSITIVE`` is left out of API output. One that the caller
should recognise but not read (a card number, an IBAN) is shown masked when
also marked :class:`ShowLast`, and stays writable::

    card_number: Annotated[str, SENSITIVE, ShowLast(4)]     # returned as "****4444"

Audit entries, logs and event payloads still mask it whole (``***``).
"""

from __future__ import annotations

from dataclasses import dataclass

HIDDEN_PREFIX = "****"
"""What stands for the hidden part of a value, whatever its length (which it does not reveal)."""


@dataclass(frozen=True, slots=True)
class ShowLast:
    """Marks a ``SENSITIVE`` field the API returns masked: ``****`` and its last ``count``
    characters (fewer of a short value, so that at least half of it stays hidden)."""

    count: int = 4

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("ShowLast needs a positive count")

    def mask(self, value: object) -> str | None:
        """``value`` as shown: None stays None."""
        if value is None:
            return None
        text = str(value)
        shown = min(self.count, len(text) // 2)
        return HIDDEN_PREFIX + (text[-shown:] if shown else "")
