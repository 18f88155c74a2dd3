"""The ``lamina`` command: one Typer app, one sub-app per area (``lamina db ...``).

Another area adds its commands with one line, for example
``app.add_typer(events.app, name="events")`` for a ``lamina.cli.events`` module.
"""

from __future__ import annotations

import typer

from lamina.cli import db, events, keys, relay

app = typer.Typer(
    name="lamina",
    help="lamina: the domain and persistence layer of business applications.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db.app, name="db")
app.add_typer(events.app, name="events")  # with relay's commands
app.add_typer(keys.app, name="keys")

__all__ = ["app", "relay"]
