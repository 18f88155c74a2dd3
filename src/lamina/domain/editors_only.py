"""Fields marked ``EDITORS_ONLY``: where a model has them, and a copy of it without them.

``hide_editors_only(quiz)`` is the quiz as a reader sees it: each marked field,
on the entity or on a value object it holds (alone, optional, or in a list,
tuple or dict), is ``None``. The copy is not validated again (a reader's
``None`` would break the field's own rules); the API's output schema
(``lamina.api.output_schema``) allows it.
"""

from __future__ import annotations

import functools
import typing
from typing import Any, TypeVar

from pydantic import BaseModel

from lamina.domain.entity import EDITORS_ONLY

M = TypeVar("M", bound=BaseModel)


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The model classes an annotation holds: ``Question``, ``list[Question]``, ``X | None``…"""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models_in(arg)]


@functools.cache
def has_editors_only(model: type[BaseModel]) -> bool:
    """Whether ``model`` or a model one of its fields holds has a field marked ``EDITORS_ONLY``."""
    return _marked(model, set())


def _marked(model: type[BaseModel], seen: set[type[BaseModel]]) -> bool:
    seen.add(model)  # a model that holds itself is looked at once
    for info in model.model_fields.values():
        if EDITORS_ONLY in info.metadata:
            return True
        if any(_marked(m, seen) for m in models_in(info.annotation) if m not in seen):
            return True
    return False


def hide_editors_only(model: M) -> M:
    """A copy of ``model`` with every ``EDITORS_ONLY`` field, however deep, set to ``None``."""
    if not has_editors_only(type(model)):
        return model
    changes: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        if EDITORS_ONLY in info.metadata:
            changes[name] = None
        elif any(has_editors_only(m) for m in models_in(info.annotation)):
            changes[name] = _hidden(getattr(model, name))
    return model.model_copy(update=changes)


def _hidden(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return hide_editors_only(value)
    if isinstance(value, list | tuple):
        return type(value)(_hidden(item) for item in value)
    if isinstance(value, dict):
        return {key: _hidden(item) for key, item in value.items()}
    return value
