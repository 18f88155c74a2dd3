"""``python -m lamina.persistence.migrations "message"``: write lamina's next revision."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from lamina.persistence.migrations.authoring import new_lamina_revision
from lamina.persistence.migrations.config import MigrationError


def main(arguments: list[str]) -> int:
    """Autogenerate lamina's next revision; the message is the only argument."""
    if len(arguments) != 1 or not arguments[0].strip():
        print('usage: python -m lamina.persistence.migrations "what changed"', file=sys.stderr)
        return 2
    try:
        path = asyncio.run(new_lamina_revision(arguments[0]))
    except MigrationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if path is None:
        print("lamina_metadata already matches lamina's revisions: nothing written")
        return 0
    _format(path)
    print(f"wrote {path}: read it, tidy it, and run tests/persistence/test_migrations.py")
    return 0


def _format(path: Path) -> None:
    """Format the new revision with ruff when it is installed (lamina's dev environment)."""
    ruff = Path(sys.executable).parent / "ruff"
    if ruff.is_file():
        subprocess.run([str(ruff), "format", "--quiet", str(path)], check=False)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
