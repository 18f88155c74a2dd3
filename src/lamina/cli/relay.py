"""``lamina events relay`` and ``lamina events schema``: the event log beyond one database.

``relay`` runs an :class:`~lamina.events.EventRelay` until it is interrupted
(SIGINT or SIGTERM give the lease up at once; after a crash another relay
takes over when the lease expires). ``schema`` prints the JSON Schema
document of the relayed messages for the registered event types.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from lamina.cli.events import _run, app
from lamina.cli.options import CommandError, Url, existing_database, reported_errors
from lamina.events import EventRelay, default_registry
from lamina.events.jetstream import Retention, StreamSettings
from lamina.events.relay import DEFAULT_STREAM, DEFAULT_SUBJECT_PREFIX
from lamina.events.schema import event_schema
from lamina.events.wire import Encoding
from lamina.persistence import Database
from lamina.project import ProjectSettingsError, tool_settings

RELAY_URL_VAR = "LAMINA_RELAY_URL"


@app.command()
def relay(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            envvar=RELAY_URL_VAR,
            help="NATS server URL(s), comma-separated.",
            show_default=False,
        ),
    ],
    stream: Annotated[str, typer.Option(help="JetStream stream name.")] = DEFAULT_STREAM,
    subject_prefix: Annotated[
        str, typer.Option(help="Subjects are PREFIX.<event type>.<stream id>.")
    ] = DEFAULT_SUBJECT_PREFIX,
    encoding: Annotated[str, typer.Option(help="Message body: json or msgpack.")] = "json",
    after: Annotated[
        int | None,
        typer.Option("--from", help="Publish again every event after this position (replay)."),
    ] = None,
    retention: Annotated[
        str, typer.Option(help="Retention of a created stream: limits, interest or workqueue.")
    ] = "limits",
    max_age: Annotated[
        float, typer.Option(help="Seconds a created stream keeps messages (0: no limit).")
    ] = 0,
    duplicate_window: Annotated[
        float, typer.Option(help="Seconds JetStream remembers message ids.")
    ] = 120.0,
    batch_size: Annotated[int, typer.Option(help="Events published per acknowledged batch.")] = 500,
    lease: Annotated[float, typer.Option(help="Seconds before another relay takes over.")] = 15.0,
    url: Url = None,
) -> None:
    """Publish the event log to a NATS JetStream stream, exactly once per position."""
    if encoding not in ("json", "msgpack"):
        raise typer.BadParameter("json or msgpack", param_hint="--encoding")
    if retention not in ("limits", "interest", "workqueue"):
        raise typer.BadParameter("limits, interest or workqueue", param_hint="--retention")
    settings = StreamSettings(
        retention=_retention(retention), max_age=max_age, duplicate_window=duplicate_window
    )
    servers = [s.strip() for s in to.split(",") if s.strip()]
    with contextlib.suppress(KeyboardInterrupt):
        _run(
            _relay(
                url,
                servers,
                stream=stream,
                subject_prefix=subject_prefix,
                encoding=_encoding(encoding),
                settings=settings,
                after=after,
                batch_size=batch_size,
                lease=lease,
            )
        )


def _retention(value: str) -> Retention:
    return "interest" if value == "interest" else "workqueue" if value == "workqueue" else "limits"


def _encoding(value: str) -> Encoding:
    return "msgpack" if value == "msgpack" else "json"


async def _relay(
    url: str | None,
    servers: list[str],
    *,
    stream: str,
    subject_prefix: str,
    encoding: Encoding,
    settings: StreamSettings,
    after: int | None,
    batch_size: int,
    lease: float,
) -> None:
    async with Database(existing_database(url)) as db:
        relay = EventRelay(
            db,
            servers,
            stream=stream,
            subject_prefix=subject_prefix,
            encoding=encoding,
            settings=settings,
            batch_size=batch_size,
            lease=lease,
        )
        if after is not None:
            await relay.reset(after)
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopped.set)
        typer.echo(f"relaying to {', '.join(servers)} stream {stream}", err=True)
        async with relay:
            await stopped.wait()
        typer.echo(f"stopped at position {relay.stats.position}", err=True)


@app.command()
def schema(
    modules: Annotated[
        list[str] | None,
        typer.Option(
            "--module",
            "-m",
            help="Import this module to register its event classes (repeatable). "
            "[default: the module of [tool.lamina] handlers]",
        ),
    ] = None,
) -> None:
    """Print the JSON Schema of relayed messages for every registered event type."""
    with reported_errors():
        _import_events(modules or _configured_modules(Path.cwd()))
    typer.echo(json.dumps(event_schema(default_registry), indent=2, sort_keys=False))


def _import_events(modules: list[str]) -> None:
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise CommandError(f"cannot import {name!r}: {error}") from error


def _configured_modules(root: Path) -> list[str]:
    try:
        settings = tool_settings(root)
    except ProjectSettingsError as error:
        raise CommandError(str(error)) from error
    handlers = settings.get("handlers")
    return [handlers.partition(":")[0]] if isinstance(handlers, str) and handlers else []
