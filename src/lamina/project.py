"""The project's own lamina settings: the ``[tool.lamina]`` table of its ``pyproject.toml``."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


class ProjectSettingsError(ValueError):
    """``pyproject.toml`` exists but its ``[tool.lamina]`` table cannot be read."""


def tool_settings(root: Path) -> dict[str, Any]:
    """``[tool.lamina]`` of ``root/pyproject.toml``; empty when there is no such file or table."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ProjectSettingsError(f"{path} is not valid TOML: {error}") from error
    section = document.get("tool", {}).get("lamina", {})
    if not isinstance(section, dict):
        raise ProjectSettingsError(f"[tool.lamina] in {path} must be a table")
    return section
