"""``JSONValue``: a JSON column that also stores Pydantic models (value objects in a list)."""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import JSON, Dialect
from sqlalchemy.types import TypeDecorator


class JSONValue(TypeDecorator[Any]):
    """JSON holding whatever Pydantic can dump: models, decimals, enums, UUIDs, dates.

    For an entity field such as ``questions: list[Question]`` (``Question`` a
    :class:`~lamina.domain.ValueObject`), stored in one column::

        questions: Mapped[list[Any]] = mapped_column(JSONValue())

    Values are written as ``to_jsonable_python`` gives them and read back as
    plain JSON, which the entity validates into its types again. Migrations
    render it as ``sa.JSON()``, the type it stores.
    """

    impl = JSON()
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else to_jsonable_python(value)
