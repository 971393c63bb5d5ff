"""A real desk served by `prefdesk serve` in a subprocess, and Chromium set up for this machine."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from labeling.ingest import import_files
from store.db import open_store
from tests.conftest import PASSWORD, add_annotators, free_port, start_desk_process, write_jsonl

XSS_PAYLOADS = (
    "<script>alert('xss-script')</script>",
    "<img src=x onerror=alert('xss-img')>",
    "<svg onload=alert('xss-svg')></svg>",
    "[click me](javascript:alert('xss-link'))",
    "${alert('xss-template')} {{constructor.constructor('alert(1)')()}}",
)
# Shown transformed rather than literally, but just as inert: links with unsafe schemes, images
# (never loaded), frames, HTML inside code blocks, and a right-to-left override.
XSS_INERT = (
    "[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[vb](vbscript:msgbox(1)) <a href=\"javascript:alert('xss-a')\">a</a>",
    "![tracking pixel](https://evil.example/pixel.png) ![js](javascript:alert('xss-image'))",
    "[![nested](https://evil.example/n.png)](https://evil.example/)",
    "<iframe src=\"javascript:alert('xss-frame')\"></iframe><object data=x></object>",
    "```html\n<script>alert('xss-code')</script><img src=x onerror=alert('xss-code-img')>\n```",
    "Open invoice\u202efdp.exe",
)


@dataclass
class RunningDesk:
    url: str
    db: Path
    process: subprocess.Popen[str]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.communicate(timeout=20)  # waits, and closes its pipes
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()

    @classmethod
    @contextmanager
    def serving(cls, db: Path) -> Iterator[RunningDesk]:
        """`prefdesk serve` of the store at `db` on a free port, stopped afterwards."""
        port = free_port()
        desk = cls(f"http://127.0.0.1:{port}", db, start_desk_process(db, port))
        try:
            yield desk
        finally:
            desk.stop()


def _records() -> list[dict[str, object]]:
    records: list[dict[str, object]] = [
        {
            "id": f"mail-{n}",
            "prompt": f"Subject: question {n}\n\nHello, where is my order {n}?",
            "responses": [
                {"model": "bot-v1", "content": f"Your order {n} **shipped** today.\n\n- tracking: NW{n}"},
                {"model": "bot-v2", "content": f"We are looking into order {n}."},
            ],
        }
        for n in range(6)
    ]
    records.append(
        {
            "id": "hostile",
            "prompt": [
                {"role": "system", "content": "Be helpful. " + XSS_PAYLOADS[0]},
                {"role": "user", "content": "My embed code is " + " ".join(XSS_PAYLOADS)},
            ],
            "responses": [
                {"model": "bot-v1", "content": "Try this:\n\n" + "\n\n".join(XSS_PAYLOADS + XSS_INERT)},
                {
                    "model": "bot-v2",
                    "content": "```html\n" + XSS_PAYLOADS[0] + "\n```\n\n" + "\n\n".join(XSS_INERT),
                },
            ],
        }
    )
    return records


@pytest.fixture
def running_desk(tmp_path: Path) -> Iterator[RunningDesk]:
    db = tmp_path / "desk.duckdb"
    store = open_store(db)
    import_files(store, [write_jsonl(tmp_path / "mail.jsonl", _records())], dataset="mail")
    add_annotators(store, "ana")
    store.close()
    with RunningDesk.serving(db) as desk:
        yield desk


def log_in(page: Page, desk: RunningDesk, name: str = "ana", password: str = PASSWORD) -> None:
    page.goto(desk.url)
    page.get_by_label("username").fill(name)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()


def judged(page: Page) -> int:
    return int(page.locator(".pd-progress").get_attribute("data-judged") or -1)


def press_and_wait(page: Page, key: str, expected_judged: int) -> None:
    page.keyboard.press(key)
    expect(page.locator(f'.pd-progress[data-judged="{expected_judged}"]')).to_be_visible(timeout=10_000)


__all__ = ["PASSWORD", "RunningDesk", "XSS_PAYLOADS", "judged", "log_in", "press_and_wait"]
