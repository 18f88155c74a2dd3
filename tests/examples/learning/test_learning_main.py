"""``python -m examples.learning``: migrates, loads the demo, serves on its port, asks nothing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from server_kit import free_port

REPO = Path(__file__).resolve().parents[3]


def test_python_m_examples_learning_serves_the_demo(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "PYTHONPATH": str(REPO)}
    env["LAMINA_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'learning.db'}"
    env.pop("LAMINA_SECRET_KEY", None)
    command = [sys.executable, "-m", "examples.learning"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the service exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.1)
        courses = httpx.get(f"http://127.0.0.1:{port}/courses").json()["items"]
        assert [c["title"] for c in courses] == ["SQL from scratch"]
        assert courses[0]["enrollment_count"] in (0, 1)  # the projection trails by milliseconds
        form = {"username": "ines", "password": "ines-demo-password"}
        token = httpx.post(f"http://127.0.0.1:{port}/auth/token", data=form)
        assert token.status_code == 200, token.text
    finally:
        process.send_signal(signal.SIGINT)
        printed, _ = process.communicate(timeout=20)
    logins = re.findall(r"username '(\w+)'\s+password '([^']+)'", printed)
    assert [user for user, _ in logins] == ["ines", "sam"], printed
