"""A person at the desk in headless Chromium: log in, judge by keyboard, undo, stay safe."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.server import ServeOptions, serve
from labeling.ingest import import_files
from store.db import open_store
from tests.browser.conftest import PASSWORD, XSS_PAYLOADS, RunningDesk, judged, log_in, press_and_wait
from tests.conftest import add_annotators, free_port, support_records, write_jsonl

pytestmark = pytest.mark.browser


def test_a_wrong_password_does_not_get_in(page: Page, running_desk: RunningDesk) -> None:
    log_in(page, running_desk, password="not-the-password")
    expect(page.get_by_text("Incorrect Credentials")).to_be_visible()
    expect(page.locator(".pd-progress")).to_have_count(0)


def test_signing_out_is_a_button_and_a_link_to_logout_signs_no_one_out(
    page: Page, running_desk: RunningDesk
) -> None:
    log_in(page, running_desk)
    expect(page.locator(".pd-progress-text")).to_contain_text("signed in as ana")
    page.goto(running_desk.url + "/logout")  # what a `[x](logout)` link in a prompt leads to
    expect(page.locator(".pd-progress-text")).to_contain_text("signed in as ana")
    page.get_by_role("button", name="sign out").click()
    expect(page.get_by_label("username")).to_be_visible()
    page.reload()
    expect(page.get_by_label("username")).to_be_visible()
    expect(page.locator(".pd-progress")).to_have_count(0)


def test_a_page_whose_session_ended_shows_the_sign_in_page_at_the_next_key(
    page: Page, tmp_path: Path
) -> None:
    from labeling.signin import SessionPolicy

    store = open_store(tmp_path / "desk.duckdb")
    import_files(store, [write_jsonl(tmp_path / "s.jsonl", support_records(3))], dataset="support")
    add_annotators(store, "ana")
    sessions = SessionPolicy(lifetime=timedelta(hours=1), idle=timedelta(seconds=2))
    server = serve(store, ServeOptions(port=free_port(), sessions=sessions), block=False)
    assert server is not None
    try:
        page.goto(server.local_url)
        page.get_by_label("username").fill("ana")
        page.get_by_label("password").fill(PASSWORD)
        page.get_by_role("button", name="Login").click()
        expect(page.locator(".pd-progress-text")).to_contain_text("signed in as ana")
        page.wait_for_timeout(2500)
        page.keyboard.press("1")
        expect(page.get_by_label("username")).to_be_visible(timeout=10_000)
        expect(page.locator(".pd-progress")).to_have_count(0)
        with store.cursor() as cur:
            assert cur.execute("SELECT count(*) FROM judgments").fetchone() == (0,)
    finally:
        server.close()
        store.close()


def test_judging_five_pairs_by_keyboard_then_undo(page: Page, running_desk: RunningDesk) -> None:
    log_in(page, running_desk)
    expect(page.locator(".pd-progress-text")).to_contain_text("0 of 7 pairs judged · 7 left")
    expect(page.locator(".pd-progress-text")).to_contain_text("signed in as ana")

    for done, key in enumerate(["1", "2", "3", "4", "1"], start=1):
        fifth = (page.locator("#pd-left").inner_text(), page.locator("#pd-right").inner_text())
        press_and_wait(page, key, done)
    expect(page.locator(".pd-progress-text")).to_contain_text("5 of 7 pairs judged · 2 left")

    press_and_wait(page, "u", 4)
    expect(page.locator("#pd-status")).to_contain_text("Undone")
    # The undone pair is back, with the same sides as when it was judged.
    assert (page.locator("#pd-left").inner_text(), page.locator("#pd-right").inner_text()) == fifth

    # A rationale typed in the box: its "1" is text, not a verdict. Esc leaves the box; then 2.
    box = page.locator("#pd-rationale textarea")
    box.click()
    box.type("1 mentions the refund window")
    page.wait_for_timeout(300)
    assert judged(page) == 4
    page.keyboard.press("Escape")
    press_and_wait(page, "2", 5)
    expect(box).to_have_value("")

    running_desk.stop()
    store = open_store(running_desk.db)
    try:
        with store.cursor() as cur:
            kinds = [k for (k,) in cur.execute("SELECT kind FROM judgments ORDER BY seq").fetchall()]
            in_force = cur.execute(
                "SELECT verdict, rationale FROM current_pair_judgments ORDER BY seq"
            ).fetchall()
    finally:
        store.close()
    assert kinds == ["pair"] * 5 + ["undo", "pair"]
    assert [v for v, _ in in_force] == ["left", "right", "tie", "both_bad", "right"]
    assert in_force[-1][1] == "1 mentions the refund window"


def test_hostile_content_is_shown_as_text_and_runs_nothing(page: Page, running_desk: RunningDesk) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    outside: list[str] = []
    page.on(
        "request", lambda request: outside.append(request.url) if "127.0.0.1" not in request.url else None
    )
    log_in(page, running_desk)
    expect(page.locator(".pd-progress")).to_be_visible()
    for done in range(1, 8):  # judge until the hostile item has been on screen
        if "embed code" in page.locator("#pd-prompt").inner_text():
            break
        press_and_wait(page, "3", done)
    prompt_text = page.locator("#pd-prompt").inner_text()
    assert "embed code" in prompt_text
    for payload in XSS_PAYLOADS:
        assert payload in prompt_text  # visible, literally
    sides = page.locator("#pd-left").inner_text() + page.locator("#pd-right").inner_text()
    assert "<img src=x onerror=alert('xss-img')>" in sides
    assert page.locator("#pd-prompt script, #pd-left script, #pd-right script").count() == 0
    assert page.locator("#pd-left img, #pd-right img, #pd-prompt img").count() == 0
    assert page.locator("a[href^='javascript:']").count() == 0
    for scheme in ("data:", "vbscript:", "javascript:"):
        assert page.locator(f"a[href^='{scheme}' i]").count() == 0
    assert page.locator("#pd-left iframe, #pd-right iframe, #pd-left object, #pd-right object").count() == 0
    assert "\u202e" not in sides and "invoice[U+202E]fdp.exe" in sides  # the override made visible
    assert "<script>alert('xss-code')</script>" in sides  # code blocks show HTML as text
    page.wait_for_timeout(500)
    assert dialogs == []
    assert outside == []


def test_a_hostile_rationale_is_stored_as_typed_and_runs_nothing(
    page: Page, running_desk: RunningDesk
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, running_desk)
    expect(page.locator(".pd-progress")).to_be_visible()
    hostile = "<img src=x onerror=alert('xss-rationale')> [x](javascript:alert(1)) \u202egnp.exe"
    page.locator("#pd-rationale textarea").fill(hostile)
    page.keyboard.press("Escape")
    press_and_wait(page, "1", 1)
    assert page.locator("#pd-rationale img, #pd-status img").count() == 0
    page.wait_for_timeout(300)
    assert dialogs == []
    running_desk.stop()
    store = open_store(running_desk.db)
    try:
        with store.cursor() as cur:
            assert cur.execute("SELECT rationale FROM judgments").fetchall() == [(hostile,)]
    finally:
        store.close()
