"""What an update changed, for the ``changes`` list of ``*.updated`` events."""

from __future__ import annotations

from lamina.domain import SERVER_OWNED, Entity


def changed_fields(before: Entity, after: Entity) -> list[str]:
    """The names of the fields (server-owned ones aside) whose values differ, sorted."""
    owned = type(before).fields_marked(SERVER_OWNED)
    return sorted(
        name
        for name in type(before).model_fields
        if name not in owned and getattr(before, name) != getattr(after, name)
    )
