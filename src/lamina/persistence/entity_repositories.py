"""``repository_for(Entity)``: the repository of an entity that needs nothing declared.

Most entities are read by id and listed under what they reference (the videos
of a course, the messages of a chat). For those, a repository class says
nothing its row and entity do not already say::

    Videos = repository_for(Video)  # the row declared with entity=Video
    await Videos(db).list(where("course_id") == course.id)

Like every repository, it filters ``id`` and every :class:`~lamina.domain.References`
field by equality (``eq``, ``in``: the fields an API nests by); it sorts by
``created_at`` when the entity has it. A :class:`~lamina.service.Service` that
declares no ``repository`` uses it. Declare a ``Repository`` subclass for more
(other filters or sorts, renames, relations).
"""

from __future__ import annotations

import functools
import types
from typing import Any, TypeVar

from lamina.domain.entity import Entity
from lamina.persistence.entity_columns import row_for
from lamina.persistence.repository import Repository

E = TypeVar("E", bound=Entity)


def repository_for(entity: type[E]) -> type[Repository[E, Any]]:
    """The default repository of ``entity``, over its :class:`EntityColumns` row (see module).

    Raises :class:`~lamina.persistence.MappingError` when no row declares the entity.
    """
    return _repository(entity, row_for(entity))


@functools.cache
def _repository(entity: type[E], row: type) -> type[Repository[E, Any]]:
    sortable = ("created_at",) if "created_at" in entity.model_fields else ()

    def body(namespace: dict[str, Any]) -> None:
        namespace.update(
            sortable=sortable,
            __module__=entity.__module__,
            __doc__=f"The default repository of {entity.__name__} (``repository_for``).",
        )

    base = Repository[entity, row]  # type: ignore[valid-type]
    return types.new_class(f"{entity.__name__}Repository", (base,), exec_body=body)
