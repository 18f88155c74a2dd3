"""Options shared by the ``lamina`` commands."""

from __future__ import annotations

from typing import Annotated

import typer

Url = Annotated[
    str | None,
    typer.Option("--url", help="Async database URL; else $LAMINA_DATABASE_URL, else ./lamina.db."),
]
