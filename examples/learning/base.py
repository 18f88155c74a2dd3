"""What the three areas share (the seed's ``models/base.py``): the declarative base of the
tables, the caller of the use cases."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from lamina.persistence import EntityColumns
from lamina.security import Principal

Actor = Principal | None  # None: an anonymous reader


class LearningBase(EntityColumns, DeclarativeBase):
    """The service's tables: columns, CHECKs and foreign keys from the entities; a row adds
    what they cannot say (names, uniqueness, indexes). Own metadata and revision history."""
