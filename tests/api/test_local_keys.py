"""``serve(..., encryption_keys=True)``: without configured keys, a service keeps local ones."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lamina.api.serving import local_keys
from lamina.persistence import Keyring


def test_local_keys_are_made_once_private_and_used_by_the_keyring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAMINA_KEYS", "")
    monkeypatch.setenv("LAMINA_KEYS_FILE", "")  # restored after the test
    local_keys(tmp_path, "svc")
    path = tmp_path / "svc.keys"
    first = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keyring = Keyring.from_env()
    assert keyring.active_id == "k1"
    assert keyring.index_key
    local_keys(tmp_path, "svc")  # a restart keeps them
    assert path.read_text() == first


def test_configured_keys_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMINA_KEYS", "mine=" + "A" * 43 + "=")
    monkeypatch.setenv("LAMINA_KEYS_FILE", "")  # restored after the test
    local_keys(tmp_path, "svc")
    assert not (tmp_path / "svc.keys").exists()
