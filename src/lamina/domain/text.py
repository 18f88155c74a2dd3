"""Text helpers of domain models: URL slugs."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import StringConstraints

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
