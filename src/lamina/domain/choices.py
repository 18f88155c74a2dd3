"""The values a choice field allows: a ``StrEnum``'s, or a ``Literal`` of strings'."""

from __future__ import annotations

import enum
import typing
from typing import Any


def allowed_strings(annotation: Any) -> list[str]:
    """The values a ``StrEnum`` or a ``Literal["a", "b"]`` allows (none for other annotations)."""
    if isinstance(annotation, type) and issubclass(annotation, enum.StrEnum):
        return [member.value for member in annotation]
    if typing.get_origin(annotation) is not typing.Literal:
        return []
    values = typing.get_args(annotation)
    return list(values) if all(isinstance(v, str) for v in values) else []
