"""``lamina events``: tail, replay with progress, dead letters and re-drive, status."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from events_testkit import REPO, Deposited, eventually, publish_ticks
from typer.testing import CliRunner, Result

from lamina.cli import app
from lamina.events import (
    DeadLetters,
    EventRunner,
    EventStore,
    HandlerRetry,
    StoredEvent,
    Subscription,
)
from lamina.persistence import Database


async def lamina(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``lamina ARGS`` in a thread (the commands start their own event loop)."""
    return await asyncio.to_thread(
        CliRunner().invoke, app, list(args), env=env, catch_exceptions=False
    )


async def test_tail_prints_the_last_events_or_those_after_a_position(
    db: Database, db_url: str
) -> None:
    await publish_ticks(db, 12)
    last = await lamina("events", "tail", "--url", db_url, "--no-follow", "-n", "3")
    assert last.exit_code == 0
    lines = last.output.splitlines()
    assert len(lines) == 3
    assert "test.tick" in lines[0]
    assert '"n":9' in lines[0]

    positions = [e.position for e in await EventStore(db).read()]
    after = await lamina(
        "events", "tail", "--url", db_url, "--no-follow", "--json", "--from", str(positions[9])
    )
    records = [StoredEvent.from_json(line) for line in after.output.splitlines()]
    assert [r.payload["n"] for r in records] == [10, 11]


async def test_tail_follows_new_events(db: Database, db_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    command = "from lamina.cli import app; app()"
    follower = await asyncio.create_subprocess_exec(
        sys.executable, "-c", command, "events", "tail", "--url", db_url, "--poll", "0.05",
        stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        await publish_ticks(db, 1, start=77)  # shown first, or followed: either way once
        assert follower.stdout is not None
        line = await asyncio.wait_for(follower.stdout.readline(), 10)
        assert b'"n":77' in line
    finally:
        follower.terminate()
        await follower.wait()


async def test_replay_runs_the_handlers_with_a_progress_bar(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    projection = tmp_path / "projection.txt"
    env = {
        "CLI_PROJECTION_FILE": str(projection),
        "LAMINA_EVENT_HANDLERS": "cli_handlers:subscriptions",
    }
    await publish_ticks(db, 5)
    result = await lamina("events", "replay", "-s", "cli-ticks", "--url", db_url, env=env)
    assert result.exit_code == 0, result.output
    assert "replaying cli-ticks" in result.output
    assert "cli-ticks: 5 events read" in result.output
    assert len(projection.read_text().splitlines()) == 5

    again = await lamina(
        "events", "replay", "-s", "cli-ticks", "--from", "0", "--url", db_url, env=env
    )
    assert again.exit_code == 0
    assert len(projection.read_text().splitlines()) == 5  # reset first, then rebuilt

    third = (await EventStore(db).read())[2].position
    tail = await lamina(
        "events", "replay", "-s", "cli-ticks", "--from", str(third), "--url", db_url, env=env
    )
    assert "2 events read" in tail.output
    assert [line.split()[1] for line in projection.read_text().splitlines()][-2:] == ["3", "4"]

    unknown = await lamina("events", "replay", "-s", "nope", "--url", db_url, env=env)
    assert unknown.exit_code == 1
    assert "no subscription 'nope'" in unknown.output


async def test_replay_refuses_a_subscription_another_runner_holds(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    import cli_handlers

    env = {"CLI_PROJECTION_FILE": str(tmp_path / "p.txt")}
    async with EventRunner(db, cli_handlers.subscriptions, poll_interval=0.05, lease=30) as runner:
        await eventually(lambda: "cli-ticks" in runner.positions)
        busy = await lamina(
            "events", "replay", "-s", "cli-ticks", "--url", db_url,
            "--handlers", "cli_handlers:subscriptions", env=env,
        )  # fmt: skip
    assert busy.exit_code == 1
    assert "run by another process" in busy.output


async def test_dead_letters_retry_and_status(db: Database, db_url: str) -> None:
    broken = Subscription("cli-broken", retry=HandlerRetry(max_attempts=1))

    @broken.handles(Deposited)
    async def fail(event: Deposited, record: StoredEvent) -> None:
        raise RuntimeError("printer on fire")

    async with db.unit_of_work() as uow:
        uow.publish(Deposited(account="a", amount=1))
        uow.publish(Deposited(account="a", amount=2))
    await EventRunner(db, [broken]).catch_up("cli-broken")

    listed = await lamina("events", "dead-letters", "--url", db_url)
    lines = listed.output.splitlines()
    assert len(lines) == 2
    assert "cli-broken" in lines[0]
    assert "printer on fire" in lines[0]
    assert "failed" in lines[0]

    refused = await lamina("events", "retry", "--url", db_url)
    assert refused.exit_code == 2
    first_id = lines[0].split()[0]
    one = await lamina("events", "retry", first_id, "--url", db_url)
    assert "1 dead letter(s) marked" in one.output
    [marked] = [d for d in await DeadLetters(db).find() if d.redrive_requested_at]
    assert str(marked.id) == first_id
    everything = await lamina("events", "retry", "--all", "--url", db_url)
    assert "2 dead letter(s) marked" in everything.output

    status = await lamina("events", "status", "--url", db_url)
    last = await EventStore(db).last_position()
    assert f"log at position {last}" in status.output
    row = next(line for line in status.output.splitlines() if line.startswith("cli-broken"))
    assert row.split()[1:4] == [str(last), "0", "2"]  # position, lag, dead letters


async def test_status_shows_lag_of_a_subscription_behind(db: Database, db_url: str) -> None:
    quiet = Subscription("cli-quiet")

    @quiet.handles(Deposited)
    async def ignore(event: Deposited, record: StoredEvent) -> None: ...

    await EventRunner(db, [quiet]).catch_up("cli-quiet")
    await publish_ticks(db, 4)
    status = await lamina("events", "status", "--url", db_url)
    row = next(line for line in status.output.splitlines() if line.startswith("cli-quiet"))
    assert row.split()[1:3] == ["0", "4"]
