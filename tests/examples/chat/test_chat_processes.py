"""Real server processes: two on one PostgreSQL database; ``python -m examples.chat``."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from chat_testkit import (
    REPO,
    EventReader,
    fence,
    free_port,
    interrupt,
    main_env,
    reading,
    server_process,
    start_main,
    stop,
    user_on,
    wait_until_up,
)
from examples.chat.rows import ChatBase

from lamina.persistence.migrations import MigrationConfig, check, current, downgrade, upgrade


@pytest.mark.postgres_only
async def test_a_message_posted_on_one_process_reaches_a_stream_on_the_other(
    chat_url: str,
) -> None:
    with server_process(chat_url) as first, server_process(chat_url) as second:
        async with user_on(first, "alice") as alice, user_on(second, "bob") as bob:
            ws = (await alice.ok("POST", "/workspaces", 201, json={"name": "Acme"}))["id"]
            await alice.ok("POST", f"/workspaces/{ws}/members", 201, json={"username": "bob"})
            conv = await alice.ok(
                "POST", f"/workspaces/{ws}/conversations", 201, json={"title": "Cross"}
            )
            participants = f"/conversations/{conv['id']}/participants"
            await alice.ok("POST", participants, 201, json={"username": "bob"})
            await bob.ok("POST", f"{participants}/me/accept")
            async with reading(second, bob) as bob_on_second:
                await alice.ok(
                    "POST",
                    f"/conversations/{conv['id']}/messages",
                    201,
                    json={"content": "from process one"},
                )
                posted = await bob_on_second.wait_for(lambda e: e.type == "message.posted")
                assert posted.payload["content"] == "from process one"
                assert posted.data["actor_id"] == alice.id
                # A cursor made by one process is accepted by the other (shared secret key).
                page = await bob.ok("GET", f"/workspaces/{ws}/conversations", params={"limit": 1})
                assert page["next_cursor"] is None
                await fence(bob, bob_on_second)
                assert bob_on_second.types == ["message.posted", "workspace.created"]


@pytest.mark.postgres_only
async def test_g16_logging_out_on_one_process_ends_the_stream_on_the_other(
    chat_url: str,
) -> None:
    with server_process(chat_url) as first, server_process(chat_url) as second:
        async with user_on(first, "alice") as alice, reading(second, alice) as on_second:
            started = time.monotonic()
            await alice.ok("POST", "/auth/logout", 204)
            await on_second.ended()
            assert time.monotonic() - started < 5
            assert [kind for kind, _ in on_second.notices] == ["unauthorized"]


async def test_migrations_create_exactly_the_models(isolated_db_url: str) -> None:
    chat_url = isolated_db_url
    app = MigrationConfig.beside(ChatBase)
    await upgrade(chat_url, app=app)
    assert await check(chat_url, app=app) == []
    await downgrade(chat_url, "base", app=app)
    assert await current(chat_url, app=app) == []


def test_python_m_examples_chat_serves_the_demo_and_docs_authorize_works(
    tmp_path: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = main_env(
        port,
        LAMINA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}",
        LAMINA_SECRET_KEY=None,
        LAMINA_DEMO=None,
    )
    process = start_main(tmp_path, env)
    try:
        wait_until_up(base, process, seconds=60)
    finally:
        printed = interrupt(process)
    credentials = re.findall(r"username '(\w+)'\s+password '([^']+)'", printed)
    assert [user for user, _ in credentials] == ["alice", "bob"], printed
    assert f"web client: {base}/\n" in printed
    assert f"API docs: {base}/docs\n" in printed
    assert (tmp_path / "chat.secret").exists()

    # Again (migrated, demo there, secret kept); log in as /docs "Authorize" does.
    process = start_main(tmp_path, env)
    try:
        wait_until_up(base, process, seconds=60)
        with httpx.Client(base_url=base) as browser:
            assert browser.get("/docs").status_code == 200
            spec = browser.get("/openapi.json").json()
            schemes = spec["components"]["securitySchemes"].values()
            flow = next(s["flows"]["password"] for s in schemes if s["type"] == "oauth2")
            user, password = credentials[0]
            token = browser.post(
                flow["tokenUrl"],
                data={"grant_type": "password", "username": user, "password": password},
            )
            assert token.status_code == 200, token.text
            browser.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            assert browser.get("/users/me").json()["username"] == "alice"
            workspaces = browser.get("/workspaces").json()["items"]
            assert [w["name"] for w in workspaces] == ["Demo workspace"]
            conversations = browser.get(f"/workspaces/{workspaces[0]['id']}/conversations")
            titles = {c["title"] for c in conversations.json()["items"]}
            assert titles == {"General", "Daily standup"}
    finally:
        printed = interrupt(process)
    assert "already there" in printed


def test_lamina_commands_find_the_database_the_service_uses(tmp_path: Path) -> None:
    """Run from the project root, ``lamina db`` and ``lamina events`` act on ``./var/chat.db``."""
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "examples").symlink_to(REPO / "examples")  # what [tool.lamina] names
    port = free_port()
    env = main_env(port, LAMINA_DATABASE_URL=None)
    process = start_main(tmp_path, env)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process, seconds=60)
    finally:
        interrupt(process)
    assert (tmp_path / "var" / "chat.db").exists()

    def lamina(*arguments: str) -> str:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "lamina"), *arguments],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "(app) (head)" in lamina("db", "current")
    assert "conversation-activity" in lamina("events", "status")
    assert "events read" in lamina("events", "replay", "-s", "conversation-activity")


async def test_sigterm_ends_every_stream_with_resume_and_exits_promptly_and_cleanly(
    tmp_path: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = main_env(
        port, LAMINA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}", LAMINA_DEMO="0"
    )
    process = start_main(tmp_path, env, stderr=subprocess.PIPE)
    try:
        await asyncio.to_thread(wait_until_up, base, process, 60)
        async with user_on(base, "alice") as alice:
            token = alice.client.headers["Authorization"].removeprefix("Bearer ")
            streams = [await EventReader(base, token).start() for _ in range(3)]
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            for stream in streams:
                await stream.ended()
            _, errors = await asyncio.to_thread(process.communicate, timeout=10)
            assert time.monotonic() - started < 3
    finally:
        stop(process)
    for stream in streams:
        assert [(kind, data["reason"]) for kind, data in stream.notices] == [
            ("resume", "server_shutdown")
        ]
    assert "Traceback" not in errors
    assert "ERROR" not in errors


@pytest.mark.parametrize("log_format", ["json", "plain"])
def test_the_service_logs_one_line_per_request_in_the_chosen_format(
    tmp_path: Path, log_format: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = main_env(
        port,
        LAMINA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}",
        LAMINA_DEMO="0",
        LOG_FORMAT=log_format,
    )
    process = start_main(tmp_path, env, stderr=subprocess.PIPE)
    try:
        wait_until_up(base, process, seconds=60)
        answer = httpx.get(f"{base}/workspaces", headers={"X-Request-ID": "req-7"})
        assert answer.status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=20)
    lines = [line for line in errors.splitlines() if line.strip()]
    mentions = [line for line in lines if "/workspaces" in line]
    assert len(mentions) == 1, lines  # lamina's access line; uvicorn's own is off
    if log_format == "json":
        records = [json.loads(line) for line in lines]  # every line is a JSON object
        [access] = [r for r in records if r.get("path") == "/workspaces"]
        assert (access["correlation_id"], access["status"]) == ("req-7", 401)
        assert access["logger"] == "lamina.api.access"
    else:
        assert not any(line.startswith("{") for line in lines)
        assert "correlation_id=req-7" in mentions[0]


def _samples(text: str, name: str) -> dict[str, float]:
    """``labels -> value`` of every sample of metric ``name`` in a /metrics text."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            series, _, value = line.rpartition(" ")
            found[series[len(name) :]] = float(value)
    return found


async def test_metrics_are_one_view_of_every_worker(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = main_env(
        port,
        LAMINA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}",
        LAMINA_DEMO="0",
        WORKERS="2",
    )
    process = start_main(tmp_path, env)
    try:
        await asyncio.to_thread(wait_until_up, base, process, 60)
        async with user_on(base, "alice") as alice, reading(base, alice):
            for _ in range(5):
                await alice.ok("GET", "/users/me")
            await alice.ok("POST", "/workspaces", 201, json={"name": "Acme"})
            assert (await alice.call("GET", "/docs")).status_code == 200
            await asyncio.sleep(1.5)  # every worker has shared its in-process counters
            scrapes = []
            for _ in range(10):
                async with httpx.AsyncClient() as fresh:  # a new connection: any worker
                    scrapes.append((await fresh.get(f"{base}/metrics")).text)
    finally:
        interrupt(process)

    me = '{method="GET",route="/users/me",status="200"}'
    metrics_route = '{method="GET",route="/metrics",status="200"}'
    seen_me = [_samples(text, "lamina_http_requests_total")[me] for text in scrapes]
    assert seen_me == [6.0] * 10  # user_on's own call and the five: whichever worker answered
    requests = [_samples(text, "lamina_http_requests_total") for text in scrapes]
    scraped = [found.get(metrics_route, 0) for found in requests]
    assert scraped == sorted(scraped)  # counters never go back
    last = scrapes[-1]
    assert '{method="GET",route="/docs",status="200"}' in last
    assert _samples(last, "lamina_sse_connections_open")[""] == 1.0
    assert _samples(last, "lamina_events_appended_total")[""] >= 1
    assert _samples(last, "lamina_db_pool_size")[""] == 20.0  # two workers' pools of 10
    assert '{subscription="conversation-activity"}' in "".join(
        _samples(last, "lamina_subscription_position")
    )
