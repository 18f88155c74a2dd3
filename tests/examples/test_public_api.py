"""The reference services use lamina's public API only: names its packages export.

A name an example imports from ``lamina.<package>.<module>`` is an internal
one (it may move or change); users learn from the examples, so they must not
show it. Every name a public package exports is documented.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PACKAGES = (
    "lamina.domain",
    "lamina.persistence",
    "lamina.events",
    "lamina.service",
    "lamina.api",
    "lamina.security",
    "lamina.validation",
)


def lamina_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """``(line, module, names)`` of every import of lamina in ``path``."""
    found: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "lamina":
                found.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "lamina":
                    found.append((node.lineno, alias.name, []))
    return found


def example_files() -> list[Path]:
    return sorted(EXAMPLES.rglob("*.py"))


def test_examples_import_lamina_packages_never_their_modules() -> None:
    deep = [
        f"{path.relative_to(EXAMPLES.parent)}:{line}: {module}"
        for path in example_files()
        for line, module, _ in lamina_imports(path)
        if module.count(".") >= 2
    ]
    assert example_files(), "no examples found"
    assert deep == [], "import these names from their lamina package instead:\n" + "\n".join(deep)


def test_every_name_the_examples_import_is_exported() -> None:
    missing = []
    for path in example_files():
        for line, module, names in lamina_imports(path):
            exported = set(getattr(importlib.import_module(module), "__all__", ()))
            missing += [
                f"{path.relative_to(EXAMPLES.parent)}:{line}: {module}.{name}"
                for name in names
                if name not in exported
            ]
    assert missing == [], "not in the package's __all__:\n" + "\n".join(missing)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_class_and_function_is_documented(package: str) -> None:
    module = importlib.import_module(package)
    undocumented = [
        name
        for name in module.__all__
        if (inspect.isclass(obj := getattr(module, name)) or inspect.isfunction(obj))
        and not inspect.getdoc(obj)
    ]
    assert undocumented == []
