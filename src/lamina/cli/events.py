"""``lamina events``: follow the log, replay subscriptions, inspect and re-drive dead letters.

The database is found as the application finds it (see :mod:`lamina.cli.options`).
``replay`` runs the application's handlers, found from ``--handlers``, else
``LAMINA_EVENT_HANDLERS``, else ``handlers`` under ``[tool.lamina]`` in
``./pyproject.toml``: an import path such as ``"myapp.projections:subscriptions"``
naming a :class:`~lamina.events.Subscription`, a list of them, or a function of the
``Database`` returning either.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar
from uuid import UUID

import typer

from lamina.cli.options import CommandError, Url, existing_database, reported_errors
from lamina.events import (
    DeadLetters,
    EventFeed,
    EventNotifier,
    EventRunner,
    EventStore,
    StoredEvent,
    Subscription,
    SubscriptionBusy,
    subscription_states,
)
from lamina.persistence import Database
from lamina.project import ProjectSettingsError, tool_settings

T = TypeVar("T")
HANDLERS_VAR = "LAMINA_EVENT_HANDLERS"
_READ_BATCH = 500

app = typer.Typer(
    help="The event log: follow it, replay subscriptions, list and re-drive dead letters.",
    no_args_is_help=True,
)


def _run(work: Coroutine[Any, Any, T]) -> T:
    with reported_errors(SubscriptionBusy):
        return asyncio.run(work)


def _line(event: StoredEvent, as_json: bool) -> str:
    if as_json:
        return event.to_json().decode()
    recorded = event.recorded_at.isoformat(timespec="milliseconds")
    payload = json.dumps(event.payload, separators=(",", ":"), default=str)
    stream = f"{event.stream_id}@{event.stream_version}"
    return f"{event.position:>8}  {recorded}  {event.event_type}  {stream}  {payload}"


@app.command()
def tail(
    url: Url = None,
    after: Annotated[
        int | None,
        typer.Option("--from", help="Start after this position. [default: the last LINES]"),
    ] = None,
    lines: Annotated[int, typer.Option("--lines", "-n", help="Events shown first.")] = 10,
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", help="Keep printing new events.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON record per line.")] = False,
    poll: Annotated[float, typer.Option(help="Seconds between polls when idle.")] = 1.0,
) -> None:
    """Print the log (the last LINES events, or those after --from), then follow it."""
    with contextlib.suppress(KeyboardInterrupt):
        _run(_tail(url, after, lines, follow, as_json, poll))


async def _tail(
    url: str | None, after: int | None, lines: int, follow: bool, as_json: bool, poll: float
) -> None:
    async with Database(existing_database(url)) as db:
        store = EventStore(db)
        position = after if after is not None else max(0, await store.last_position() - lines)
        while True:
            batch = await store.read(after=position, limit=_READ_BATCH)
            for event in batch:
                typer.echo(_line(event, as_json))
            if batch:
                position = batch[-1].position
            if len(batch) < _READ_BATCH:
                break
        if not follow:
            return
        feed = EventFeed(db, poll_interval=poll)  # the feed owns (starts, stops) its notifier

        def show(events: Sequence[StoredEvent]) -> None:
            for event in events:
                typer.echo(_line(event, as_json))

        feed.subscribe(show)
        await feed.start(after=position)
        try:
            await asyncio.Event().wait()
        finally:
            await feed.stop()


@app.command()
def replay(
    subscription: Annotated[str, typer.Option("--subscription", "-s", help="Its name.")],
    after: Annotated[
        int, typer.Option("--from", help="Handle the events after this position (0: all).")
    ] = 0,
    handlers: Annotated[
        str | None,
        typer.Option(
            "--handlers",
            help="Import path of the app's subscriptions, 'pkg.module:attr'. "
            "[default: $LAMINA_EVENT_HANDLERS or [tool.lamina] handlers]",
        ),
    ] = None,
    url: Url = None,
) -> None:
    """Handle a subscription's events again from --from (0 also resets its projection)."""
    _run(_replay(url, subscription, after, handlers))


async def _replay(url: str | None, name: str, after: int, handlers: str | None) -> None:
    async with Database(existing_database(url)) as db:
        found = {s.name: s for s in load_subscriptions(handlers, db=db)}
        if name not in found:
            known = ", ".join(sorted(found)) or "none"
            raise CommandError(f"no subscription {name!r} among the handlers (known: {known})")
        total = max(0, await EventStore(db).last_position() - after)
        runner = EventRunner(db, [found[name]], notifier=EventNotifier(db, listen=False))
        with typer.progressbar(length=total, label=f"replaying {name}", file=sys.stderr) as bar:
            done = after

            def advance(position: int, target: int) -> None:
                nonlocal done
                bar.update(position - done)
                done = position

            read = await runner.replay(name, after=after, progress=advance)
    typer.echo(f"{name}: {read} events read, now at position {runner.positions[name]}")


@app.command("dead-letters")
def dead_letters(
    subscription: Annotated[
        str | None, typer.Option("--subscription", "-s", help="Only this subscription.")
    ] = None,
    include_resolved: Annotated[bool, typer.Option("--all", help="Include resolved ones.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    url: Url = None,
) -> None:
    """List the events subscriptions gave up on."""
    letters = _run(_dead_letters(url, subscription, include_resolved, limit))
    if not letters:
        typer.echo("no dead letters")
        return
    for letter in letters:
        state = (
            "resolved"
            if letter.resolved_at
            else ("retry requested" if letter.redrive_requested_at else "failed")
        )
        error = letter.error.strip().splitlines()[-1] if letter.error.strip() else ""
        typer.echo(
            f"{letter.id}  {letter.subscription}  position {letter.position}  "
            f"{letter.event_type}  attempts {letter.attempts}  {state}  {error}"
        )


async def _dead_letters(
    url: str | None, subscription: str | None, include_resolved: bool, limit: int
) -> list[Any]:
    async with Database(existing_database(url)) as db:
        return await DeadLetters(db).find(
            subscription, include_resolved=include_resolved, limit=limit
        )


@app.command()
def retry(
    ids: Annotated[list[UUID] | None, typer.Argument(help="Dead letter ids.")] = None,
    subscription: Annotated[
        str | None, typer.Option("--subscription", "-s", help="All of this subscription.")
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="All unresolved ones.")] = False,
    url: Url = None,
) -> None:
    """Ask the subscriptions' runners to handle dead letters again."""
    if not ids and subscription is None and not everything:
        typer.echo("error: name dead letter ids, --subscription S or --all", err=True)
        raise typer.Exit(2)
    marked = _run(_retry(url, ids or [], subscription))
    typer.echo(f"{marked} dead letter(s) marked for re-drive")


async def _retry(url: str | None, ids: list[UUID], subscription: str | None) -> int:
    async with Database(existing_database(url)) as db:
        return await DeadLetters(db).request_redrive(ids, subscription=subscription)


@app.command()
def status(url: Url = None) -> None:
    """Position, lag, owner and dead letters of every subscription."""
    last, states, failed = _run(_status(url))
    typer.echo(f"log at position {last}")
    if not states:
        typer.echo("no subscriptions yet")
        return
    typer.echo(f"{'subscription':<30} {'position':>10} {'lag':>8} {'dead':>5}  owner")
    for state in states:
        owner = state.owner or "-"
        if state.owner and state.lease_expires_at:
            owner += f" (lease until {state.lease_expires_at.isoformat(timespec='seconds')})"
        typer.echo(
            f"{state.name:<30} {state.position:>10} {max(0, last - state.position):>8} "
            f"{failed.get(state.name, 0):>5}  {owner}"
        )


async def _status(url: str | None) -> tuple[int, list[Any], dict[str, int]]:
    async with Database(existing_database(url)) as db:
        last = await EventStore(db).last_position()
        states = await subscription_states(db)
        failed: dict[str, int] = {}
        for letter in await DeadLetters(db).find(limit=10_000):
            failed[letter.subscription] = failed.get(letter.subscription, 0) + 1
        return last, states, failed


def load_subscriptions(
    path: str | None, project_dir: Path | None = None, *, db: Database | None = None
) -> list[Subscription]:
    """The subscriptions named by ``path``, ``$LAMINA_EVENT_HANDLERS`` or ``[tool.lamina]``:
    a :class:`Subscription`, a list of them, or a function of ``db`` returning either
    (for handlers that write to the database)."""
    root = project_dir or Path.cwd()
    spec = path or os.environ.get(HANDLERS_VAR) or _configured_handlers(root)
    if not spec:
        raise CommandError(
            f"no handlers configured: pass --handlers, set {HANDLERS_VAR} "
            "or 'handlers' under [tool.lamina]"
        )
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise CommandError(f"handlers path {spec!r} must look like 'package.module:attribute'")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise CommandError(f"cannot import {module_name!r}: {error}") from error
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise CommandError(f"{spec!r}: no attribute {part!r}")
        target = getattr(target, part)
    if callable(target) and not isinstance(target, Subscription) and db is not None:
        target = target(db)
    try:
        found = [target] if isinstance(target, Subscription) else list(target)
    except TypeError:
        found = [target]
    if not all(isinstance(s, Subscription) for s in found):
        raise CommandError(f"{spec!r} is neither a Subscription nor a list of them")
    return found


def _configured_handlers(root: Path) -> str | None:
    try:
        value = tool_settings(root).get("handlers")
    except ProjectSettingsError as error:
        raise CommandError(str(error)) from error
    return value if isinstance(value, str) else None
