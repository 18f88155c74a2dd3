"""The reference services' size in lines of app code (non-blank lines of every file under the
service's folder but its migrations), as the README states it, and the e-learning service
(issue 13) and the ETL registry (issue 15) within their budget of 400 lines each."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def app_lines(service: str) -> int:
    folder = ROOT / "examples" / service
    files = [
        p
        for p in folder.rglob("*")
        if p.is_file() and "migrations" not in p.parts and "__pycache__" not in p.parts
    ]
    return sum(1 for p in files for line in p.read_text().splitlines() if line.strip())


@pytest.mark.parametrize(
    ("service", "section"),
    [("learning", "The e-learning reference service"), ("etl", "The ETL registry reference")],
)
def test_the_readme_states_the_lines_of_app_code(service: str, section: str) -> None:
    readme = (ROOT / "README.md").read_text()
    text = readme[readme.index(f"## {section}") :]
    text = text[: text.index("\n## ", 1)]
    stated = re.search(r"\*\*(\d[\d,]*) lines\*\*", text)
    assert stated is not None, f"the README's {section!r} section states no **N lines**"
    assert int(stated.group(1).replace(",", "")) == app_lines(service)


@pytest.mark.parametrize("service", ["learning", "etl"])
def test_the_services_keep_to_their_budget(service: str) -> None:
    assert app_lines(service) <= 400
