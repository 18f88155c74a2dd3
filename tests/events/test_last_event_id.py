"""``Last-Event-ID`` parsing: a plausible position is accepted, anything else is a 400 (G11)."""

from __future__ import annotations

import pytest

from lamina.api import parse_last_event_id
from lamina.domain import InvalidInput


@pytest.mark.parametrize(("header", "position"), [(None, None), ("", None), (" 42 ", 42), ("0", 0)])
def test_a_position_is_read(header: str | None, position: int | None) -> None:
    assert parse_last_event_id(header) == position


@pytest.mark.parametrize("header", ["-1", "1.5", "abc", "\u00b2", "\uff11", "9" * 5000, "9" * 19])
def test_g11_anything_else_is_invalid_input(header: str) -> None:
    with pytest.raises(InvalidInput):
        parse_last_event_id(header)
