"""Text types of domain models: titles, names, descriptions, message text, web addresses
and URL slugs, each with the bounds a column and a form need, and none with a NUL character
(which PostgreSQL refuses and SQLite keeps)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import StringConstraints

NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"
"""The pattern of text with something besides white space in it, and no NUL (which no two
databases store alike): ``StringConstraints(pattern=NOT_BLANK)``."""

NO_NUL = r"^[^\x00]*$"
"""The pattern of text without NUL characters (what every database stores)."""

Title = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NOT_BLANK)]
"""A title: 1 to 200 characters, not only white space (a course's, a video's, a document's)."""

Name = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NOT_BLANK)]
"""A name: 1 to 100 characters, not only white space (a workspace's, a component's)."""

Description = Annotated[str, StringConstraints(max_length=5000, pattern=NO_NUL)]
"""Free text of at most 5,000 characters, empty allowed (a description, a comment)."""

MessageText = Annotated[str, StringConstraints(min_length=1, max_length=10_000, pattern=NO_NUL)]
"""The text of a message: 1 to 10,000 characters."""

WebAddress = Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2000)]
"""An ``http://`` or ``https://`` address of at most 2,000 characters, kept as written."""

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=80)]
"""A URL slug: lower-case ASCII words joined by ``-``, at most 80 characters (what
:func:`slugify` makes)."""


def slugify(text: str, *, max_length: int = 80, fallback: str = "item") -> str:
    """A URL-safe slug of ``text``: lower-case ASCII words joined by ``-``, at most
    ``max_length`` characters ("Weekly Sync #3" → "weekly-sync-3", "Café" → "cafe");
    ``fallback`` when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].strip("-") or fallback


def slug_of(
    field: str, *, max_length: int = 80, fallback: str = "item"
) -> Callable[[Mapping[str, Any]], str]:
    """A default for a slug field: the :func:`slugify` of ``field``'s value when the slug is
    not given (``slug: Slug = Field(default_factory=slug_of("title"))``); ``field`` must be
    declared before it. Input schemas derived from the entity keep it optional."""

    def default(values: Mapping[str, Any]) -> str:
        text = values.get(field)
        return slugify(
            text if isinstance(text, str) else "", max_length=max_length, fallback=fallback
        )

    return default
