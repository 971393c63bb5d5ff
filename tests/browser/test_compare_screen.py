"""What an annotator sees on the Compare screen: a long response read to its end, the phone
layout, each dataset's own question, messages that name the pair, the end screen, the numpad.

One desk serves the whole module; each test signs in as its own annotator."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from labeling.ingest import import_files
from store.db import open_store
from tests.browser.conftest import RunningDesk, judged, log_in, press_and_wait
from tests.conftest import add_annotators, write_jsonl

pytestmark = pytest.mark.browser

SUPPORT_QUESTION = "Which reply answers the customer better?"
NEUTRAL_QUESTION = "Which response is better?"
LAST_LINE = "Final line: the refund reaches your card within five working days."
PHONE = {"width": 390, "height": 844}


def _long_answer() -> str:
    steps = "\n\n".join(
        f"Step {n}: " + "check the order page, then the card statement. " * 6 for n in range(45)
    )
    return f"Here is what to do.\n\n{steps}\n\n{LAST_LINE}"


@pytest.fixture(scope="module")
def screen_desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDesk]:
    """Dataset `support` (the support wording, from its file's header): a pair with one very
    long answer and two short pairs. Dataset `translate` (neutral wording): one pair."""
    folder = tmp_path_factory.mktemp("screen")
    header = {"prefdesk_dataset": {"question": SUPPORT_QUESTION, "user_label": "Customer"}}
    support = [
        {
            "id": "long",
            "prompt": "Subject: refund for a double charge\n\nI was charged twice.",
            "responses": [
                {"model": "a", "content": _long_answer()},
                {"model": "b", "content": "We refunded the second charge."},
            ],
        },
        *(
            {
                "id": f"t-{n}",
                "prompt": f"Subject: order {n} is late\n\nWhere is my order #{n}?",
                "responses": [
                    {"model": "a", "content": f"Order {n} shipped today."},
                    {"model": "b", "content": f"Please wait for order {n}."},
                ],
            }
            for n in (1, 2)
        ),
    ]
    support_file = folder / "support.jsonl"
    support_file.write_text("".join(json.dumps(line) + "\n" for line in [header, *support]), encoding="utf-8")
    translate = [
        {
            "id": "x-1",
            "prompt": "Translate into French: good morning",
            "responses": [{"model": "a", "content": "Bonjour"}, {"model": "b", "content": "Bonsoir"}],
        }
    ]
    db = folder / "desk.duckdb"
    store = open_store(db)
    import_files(store, [support_file], dataset="support")
    import_files(store, [write_jsonl(folder / "translate.jsonl", translate)], dataset="translate")
    add_annotators(store, "lena", "nina", "omar")
    store.close()
    with RunningDesk.serving(db) as desk:
        yield desk


def _sides_text(page: Page) -> str:
    return page.locator("#pd-left").inner_text() + page.locator("#pd-right").inner_text()


def test_a_long_response_can_be_read_to_its_last_line_before_judging(
    page: Page, screen_desk: RunningDesk
) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, screen_desk, "lena")
    expect(page.locator(".pd-progress")).to_be_visible()
    for done in range(1, 4):  # judge until the pair with the long answer is on screen
        if LAST_LINE in _sides_text(page):
            break
        press_and_wait(page, "3", done)
    last_line = page.get_by_text(LAST_LINE)
    bar = page.locator("#pd-verdict-bar")

    # Nothing is cut inside a scroll box of its own: the page is long, the bar says so.
    clipped = page.locator(".pd-response").evaluate_all(
        "cards => cards.filter(card => card.scrollHeight > card.clientHeight + 1).length"
    )
    assert clipped == 0
    expect(last_line).not_to_be_in_viewport()
    expect(page.locator("#pd-more")).to_be_visible()
    expect(page.locator("#pd-more")).to_contain_text("response continues below")
    expect(page.locator("#btn-left")).to_be_in_viewport()  # the keys stay in reach

    for _ in range(40):  # scroll like a reader, until the bar stops saying there is more
        if not page.locator("#pd-more").is_visible():
            break
        page.mouse.wheel(0, 500)
        page.wait_for_timeout(50)
    expect(page.locator("#pd-more")).to_be_hidden()
    expect(last_line).to_be_in_viewport()
    line_box, bar_box = last_line.bounding_box(), bar.bounding_box()
    assert line_box is not None and bar_box is not None
    assert line_box["y"] + line_box["height"] <= bar_box["y"]  # not under the verdict bar
    expect(page.locator("#btn-left")).to_be_in_viewport()

    page.keyboard.press("1")
    status = page.locator("#pd-status")
    expect(status).to_contain_text(
        "Saved: left better on the pair about “Subject: refund for a double charge”"
    )
    expect(status).to_contain_text("(item support/long)")
    expect(status).to_be_in_viewport()  # the next pair starts at the top, the message beside the progress
    expect(page.locator(".pd-question")).to_be_in_viewport()


def test_on_a_phone_the_responses_are_stacked_and_keep_their_keys(
    browser: Browser, screen_desk: RunningDesk
) -> None:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        log_in(page, screen_desk, "nina")
        expect(page.locator(".pd-progress")).to_be_visible()
        left, right = page.locator("#pd-left .pd-response"), page.locator("#pd-right .pd-response")
        expect(left.locator(".pd-response-head")).to_have_text(re.compile(r"1\s*Left response \(top\)", re.I))
        expect(right.locator(".pd-response-head")).to_have_text(
            re.compile(r"2\s*Right response \(bottom\)", re.I)
        )
        left_box, right_box = left.bounding_box(), right.bounding_box()
        assert left_box is not None and right_box is not None
        assert left_box["y"] + left_box["height"] <= right_box["y"]  # one above the other
        assert left_box["width"] > 300 and right_box["width"] > 300  # each nearly the phone's width
        assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]  # no sideways scroll
        for button in ("#btn-left", "#btn-right", "#btn-tie", "#btn-bothbad"):
            expect(page.locator(button)).to_be_in_viewport()
        press_and_wait(page, "2", 1)
        expect(page.locator("#pd-status")).to_contain_text("Saved: right better on the pair about")
        expect(page.locator("#pd-status")).to_be_in_viewport()
    finally:
        context.close()


def _first_line_to_answer(page: Page) -> str:
    return page.locator("#pd-prompt .pd-last .pd-md").inner_text().strip().splitlines()[0]


def _press_numpad_one_with_numlock_off(page: Page) -> None:
    """What a numpad's 1 sends with NumLock off: the key is End, the physical key Numpad1."""
    session = page.context.new_cdp_session(page)
    for kind in ("rawKeyDown", "keyUp"):
        session.send(
            "Input.dispatchKeyEvent",
            {"type": kind, "key": "End", "code": "Numpad1", "windowsVirtualKeyCode": 35, "location": 3},
        )
    session.detach()


def test_each_pair_is_asked_in_its_datasets_words_and_messages_name_the_pair(
    page: Page, screen_desk: RunningDesk
) -> None:
    log_in(page, screen_desk, "omar")
    expect(page.locator(".pd-progress")).to_be_visible()
    status = page.locator("#pd-status")
    questions_seen = set()
    keys = [  # the number row, the numpad with NumLock on, and with NumLock off
        ("2", "right better"),
        ("Numpad4", "both bad"),
        (_press_numpad_one_with_numlock_off, "left better"),
        ("3", "tie"),
    ]
    for done, (key, said) in enumerate(keys, start=1):
        caption = _first_line_to_answer(page)
        question = page.locator(".pd-question h2").inner_text()
        questions_seen.add(question)
        if caption.startswith("Translate"):  # the neutral dataset: neutral words
            assert question == NEUTRAL_QUESTION
            expect(page.locator("#pd-prompt .pd-role")).to_have_text(
                re.compile("User · message to answer", re.I)
            )
            item = "translate/x-1"
        else:
            assert question == SUPPORT_QUESTION
            expect(page.locator("#pd-prompt .pd-role")).to_have_text(
                re.compile("Customer · message to answer", re.I)
            )
            item = "support/"
        if callable(key):
            key(page)
        else:
            page.keyboard.press(key)
        expect(page.locator(f'.pd-progress[data-judged="{done}"]')).to_be_visible()
        expect(status).to_contain_text(f"Saved: {said} on the pair about “{caption}” (item {item}")
        expect(status).to_be_in_viewport()
        if done == 2:
            page.keyboard.press("u")
            expect(page.locator('.pd-progress[data-judged="1"]')).to_be_visible()
            expect(status).to_contain_text(f"Undone: your “{said}” on the pair about “{caption}”")
            assert _first_line_to_answer(page) == caption  # that pair is back
            page.keyboard.press("4")
            expect(page.locator('.pd-progress[data-judged="2"]')).to_be_visible()
    assert questions_seen == {SUPPORT_QUESTION, NEUTRAL_QUESTION}

    # Nothing left: the verdicts are off, a verdict key does nothing, undo still works.
    expect(page.locator(".pd-question")).to_have_text("Nothing left to judge")
    for button in ("#btn-left", "#btn-right", "#btn-tie", "#btn-bothbad"):
        expect(page.locator(button)).to_be_disabled()
    expect(page.locator("#btn-undo")).to_be_enabled()
    last_message = status.inner_text()
    page.keyboard.press("1")
    page.keyboard.press("Numpad2")
    page.wait_for_timeout(400)
    assert judged(page) == 4
    expect(status).to_have_text(last_message)  # no "here is the current one" about a pair not shown
    expect(page.locator(".pd-done")).to_contain_text("the verdict keys and buttons are off")
    page.keyboard.press("u")
    expect(page.locator('.pd-progress[data-judged="3"]')).to_be_visible()
    expect(status).to_contain_text("Undone: your “tie”")
    expect(page.locator("#btn-left")).to_be_enabled()
