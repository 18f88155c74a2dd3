"""``python -m examples.etl``: migrates, loads the demo (secrets under local keys), serves."""

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


def test_python_m_examples_etl_serves_the_demo(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    path = os.pathsep.join([str(REPO / "src"), str(REPO)])  # this checkout's lamina
    env = {**os.environ, "PORT": str(port), "PYTHONPATH": path}
    for name in ("LAMINA_DATABASE_URL", "LAMINA_SECRET_KEY", "LAMINA_KEYS", "LAMINA_KEYS_FILE"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.etl"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the service exited"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.1)
        form = {"username": "olga", "password": "olga-demo-password"}
        token = httpx.post(f"{base}/auth/token", data=form).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        (project,) = httpx.get(f"{base}/projects", headers=headers).json()["items"]
        components = httpx.get(
            f"{base}/projects/{project['id']}/components",
            params={"fields": "name,configuration", "sort": "name"},
            headers=headers,
        ).json()["items"]
        assert [c["name"] for c in components] == ["clean", "crm-extract", "warehouse-load"]
        assert components[2]["configuration"]["password"] == "****"
    finally:
        process.send_signal(signal.SIGINT)
        printed, _ = process.communicate(timeout=20)
    logins = re.findall(r"username '(\w+)'\s+password '([^']+)'", printed)
    assert [user for user, _ in logins] == ["olga", "victor"], printed
    assert (tmp_path / "var" / "etl.db").exists()
    assert b"demo-secret" not in (tmp_path / "var" / "etl.db").read_bytes()
