"""What the three areas share (the seed's ``models/base.py``): the declarative base of the
tables, the caller of the use cases."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from lamina.persistence import EntityColumns
from lamina.security import Principal

Actor = Principal | None  # None: an anonymous reader


class LearningBase(EntityColumns, DeclarativeBase):
    """Declarative base of the service's tables (its own metadata and revision history).

    Columns, CHECKs, foreign keys and the standard columns come from the entities
    (``EntityColumns``); a row says what they cannot: names, uniqueness, indexes."""
