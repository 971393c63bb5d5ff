"""Imports run one way: apps -> labeling/exports -> store, and store -> labeling.models only.
Nothing above the store imports duckdb: the store's errors and types are all it shows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("apps", "labeling", "exports", "store")

# Which of our packages each package may import (its own always).
ALLOWED = {
    "apps": {"apps", "labeling", "exports", "store"},
    "exports": {"exports", "labeling", "store"},
    "labeling": {"labeling", "store"},
    "store": {"store", "labeling.models"},
}
ENGINE_OWNERS = {"store"}  # the only package that may import duckdb


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, node.module)]
            # `from labeling import models` names the module labeling.models
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def sources() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def broken_rules(path: Path, root: Path = ROOT) -> list[str]:
    package = path.relative_to(root).parts[0]
    wrong = []
    for line, module in imports_of(path):
        top = module.split(".")[0]
        where = f"{path.relative_to(root)}:{line}"
        if top == "duckdb" and package not in ENGINE_OWNERS:
            wrong.append(f"{where}: imports duckdb (only store/ may)")
        if top not in PACKAGES or top == package:
            continue
        allowed = ALLOWED[package]
        if top in allowed or any(module == a or module.startswith(a + ".") for a in allowed):
            continue
        if "." not in module and any(a.startswith(top + ".") for a in allowed):
            continue  # `from labeling import models`: the name itself is checked as labeling.models
        wrong.append(f"{where}: {package} imports {module}")
    return wrong


def test_every_package_imports_only_downwards() -> None:
    assert len(sources()) > 40  # the walk found the code
    wrong = [problem for path in sources() for problem in broken_rules(path)]
    assert wrong == []


@pytest.mark.parametrize(
    ("package", "code", "expected"),
    [
        ("store", "from labeling.desk import Desk\n", "store imports labeling.desk"),
        ("store", "from labeling import queue\n", "store imports labeling.queue"),
        ("labeling", "import duckdb\n", "imports duckdb (only store/ may)"),
        ("labeling", "from apps.api import build_api\n", "labeling imports apps.api"),
        ("exports", "from apps import cli\n", "exports imports apps.cli"),
    ],
)
def test_the_rules_catch_an_import_the_wrong_way(
    tmp_path: Path, package: str, code: str, expected: str
) -> None:
    (tmp_path / package).mkdir()
    path = tmp_path / package / "wrong.py"
    path.write_text(code, encoding="utf-8")
    assert any(expected in problem for problem in broken_rules(path, tmp_path))


def test_models_may_be_imported_by_the_store(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    path = tmp_path / "store" / "fine.py"
    path.write_text("from labeling.models import Item\nfrom labeling import models\n", encoding="utf-8")
    assert broken_rules(path, tmp_path) == []
