"""Writing lamina's own next revision (for lamina's developers, not applications).

``python -m lamina.persistence.migrations "add event checkpoints"`` upgrades a
scratch SQLite database to lamina's head, compares it with
:data:`~lamina.persistence.tables.lamina_metadata` and writes the difference as
``versions/lamina_NNNN_<slug>.py``.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from lamina.persistence.migrations.commands import lamina_revision, upgrade
from lamina.persistence.migrations.scripts import LAMINA_BRANCH, lamina_script_directory

LAMINA_REVISION_ID = re.compile(rf"^{LAMINA_BRANCH}_(\d{{4}})$")


def next_lamina_revision_id() -> str:
    """``lamina_0001``, ``lamina_0002``, …: one more than the highest existing lamina revision."""
    numbers = [
        int(match[1])
        for script in lamina_script_directory().walk_revisions()
        if (match := LAMINA_REVISION_ID.match(script.revision))
    ]
    return f"{LAMINA_BRANCH}_{max(numbers, default=0) + 1:04d}"


async def new_lamina_revision(message: str) -> Path | None:
    """Autogenerate lamina's next revision from :data:`lamina_metadata`.

    Returns the new file, or ``None`` when lamina's tables already match its
    revisions (nothing is written then).
    """
    with tempfile.TemporaryDirectory(prefix="lamina-revision-") as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'scratch.db'}"
        await upgrade(url)
        return await lamina_revision(message, url, rev_id=next_lamina_revision_id())
