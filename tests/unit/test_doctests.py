"""The examples in docstrings are run, so they stay true: every module of the project's packages
that holds one (`>>>`) is found and run, none is listed by hand."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
PACKAGES = ("apps", "labeling", "exports", "store")


def _modules_with_examples() -> list[str]:
    return sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if ">>> " in path.read_text(encoding="utf-8")
    )


MODULES = _modules_with_examples()


def test_the_modules_with_examples_are_found() -> None:
    assert {"exports.write", "exports.select", "labeling.models"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0, f"{name} has '>>> ' but no example doctest finds"
    assert result.failed == 0
