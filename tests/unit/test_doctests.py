"""The examples in docstrings are run, so they stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "exports.select",
    "exports.trl",
    "exports.openai",
    "exports.evals",
    "exports.split",
    "exports.empty",
    "labeling.models",
    "apps.gradio_app.present",
    "labeling.models",
    "labeling.wording",
    "labeling.clock",
    "labeling.signin",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0
