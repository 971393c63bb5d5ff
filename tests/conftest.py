"""Fixtures shared by every test layer: stores, small datasets, a free port, a running desk."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from labeling import users
from labeling.clock import utc_now
from labeling.ingest import import_files
from store.db import Store, open_store

PASSWORD = "correct-horse-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def support_records(count: int) -> list[dict[str, object]]:
    """`count` items with two responses each; item 0 has a system prompt and two turns."""
    records: list[dict[str, object]] = []
    for n in range(count):
        prompt: object = f"Subject: order {n}\n\nWhere is my order #{1000 + n}?"
        if n == 0:
            prompt = [
                {"role": "system", "content": "You are Northwind's support agent."},
                {"role": "user", "content": "My ebook won't open."},
                {"role": "assistant", "content": "Which device are you using?"},
                {"role": "user", "content": "A Kobo Clara."},
            ]
        records.append(
            {
                "id": f"t-{n:03d}",
                "prompt": prompt,
                "responses": [
                    {"model": "bot-v1", "content": f"Order {n} shipped on Monday. **Tracking:** NW{n}."},
                    {"model": "bot-v2", "content": f"Please wait for order {n}."},
                ],
            }
        )
    return records


def start_desk_process(db: Path, port: int, timeout: float = 60) -> subprocess.Popen[str]:
    """`prefdesk serve` in a subprocess, returned once it listens on 127.0.0.1:port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "apps.cli", "serve", "--db", str(db), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"prefdesk serve exited early:\n{output}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("prefdesk serve did not start listening in time")


@contextmanager
def store_held_by_another_process(path: Path) -> Iterator[subprocess.Popen[str]]:
    """A real second process that opens the store at `path` and keeps it open."""
    code = (
        f"from store.db import open_store; s = open_store({str(path)!r}); print('ready', flush=True); input()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.kill()
        holder.communicate()  # waits, and closes its pipes (an open one is a ResourceWarning)


@pytest.fixture
def store() -> Iterator[Store]:
    opened = open_store(":memory:")
    yield opened
    opened.close()


@pytest.fixture
def seeded_store(store: Store, tmp_path: Path) -> Store:
    import_files(store, [write_jsonl(tmp_path / "support.jsonl", support_records(6))], dataset="support")
    return store


def add_annotators(store: Store, *names: str) -> None:
    for name in names:
        users.add_user(store, name, "annotator", PASSWORD, utc_now)


@pytest.fixture
def desk_server(tmp_path: Path) -> Iterator[tuple[str, Store]]:
    """The real Gradio app on a free loopback port, with annotators ana and bob and 6 items."""
    from apps.server import ServeOptions, serve

    opened = open_store(tmp_path / "desk.duckdb")
    import_files(opened, [write_jsonl(tmp_path / "support.jsonl", support_records(6))], dataset="support")
    add_annotators(opened, "ana", "bob")
    app = serve(opened, ServeOptions(port=free_port()), block=False)
    assert app is not None
    try:
        yield app.local_url, opened
    finally:
        app.close()
        opened.close()


def chromium() -> str:
    """The Chromium the browser tests drive (Debian's, unless PREFDESK_CHROMIUM names another)."""
    return os.environ.get("PREFDESK_CHROMIUM", "/usr/bin/chromium")


# pytest-playwright's fixtures: a test that asks for one of them drives a browser.
BROWSER_FIXTURES = frozenset({"page", "context", "browser", "browser_type", "new_context"})


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The browser layer runs where Chromium is. Outside CI a machine without it skips those
    tests and says why; in CI (the CI variable set, as .ci/run sets it) they always run, and a
    missing Chromium fails them."""
    fixtures = set(getattr(item, "fixturenames", ()))
    if item.get_closest_marker("browser") is None and not fixtures & BROWSER_FIXTURES:
        return
    path = chromium()
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(
            f"CI is set and there is no Chromium at {path}: in CI the browser tests always run. "
            "Install it (apt-get install chromium; .ci/run does) or set PREFDESK_CHROMIUM",
            pytrace=False,
        )
    pytest.skip(
        f"no Chromium at {path}: the browser tests need it (apt-get install chromium, or set "
        "PREFDESK_CHROMIUM to its path); CI=true makes its absence a failure"
    )


# Chromium as this machine has it, for pytest-playwright's `page` in any test folder.
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, object]) -> dict[str, object]:
    return {
        **browser_type_launch_args,
        "executable_path": chromium(),
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }
