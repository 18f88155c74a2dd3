"""G8: a committed event reaches its handlers even if the process dies right after the commit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from events_testkit import HERE, SUBPROCESS_PATH

from lamina.events import EventStore
from lamina.persistence import Database


def worker(url: str, output: Path, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": SUBPROCESS_PATH}
    return subprocess.Popen(
        [sys.executable, str(HERE / "crash_worker.py"), url, str(output), mode],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


async def test_g8_event_committed_before_a_sigkill_is_delivered_after_restart(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    output = tmp_path / "mailer.txt"
    crashing = worker(db_url, output, "publish")
    try:
        assert crashing.stdout is not None
        assert crashing.stdout.readline().strip() == "committed"
    finally:
        crashing.send_signal(signal.SIGKILL)
        crashing.wait(10)
    assert crashing.returncode == -signal.SIGKILL
    [stored] = await EventStore(db).read()
    assert stored.payload["n"] == 42
    assert not output.exists()  # the handler never ran in the killed process

    restarted = worker(db_url, output, "resume")
    try:
        assert restarted.wait(30) == 0
    finally:
        if restarted.poll() is None:
            restarted.kill()
            restarted.wait()
    assert output.read_text().split() == ["42"]
