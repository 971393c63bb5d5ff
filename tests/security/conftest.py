"""The security suite: attacks on a served desk, each a test that failed before its fix.

Run it alone with `pytest -m security` (it also runs in `make test`). Every test in this folder
carries the `security` marker; fixtures come from tests/conftest.py and tests/app/conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.conftest import rest_desk  # noqa: F401  (a served desk with accounts and tokens)

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before `-m security` selects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.security)
