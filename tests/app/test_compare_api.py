"""The real desk on a loopback port, driven through its named endpoints with gradio_client."""

from __future__ import annotations

import html
import re
import threading
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from exports.options import ExportOptions
from exports.run import run_export
from labeling.clock import utc_now
from store.db import Store
from tests.conftest import PASSWORD

pytestmark = pytest.mark.app

PROMPT, LEFT, RIGHT, PROGRESS, SHOWING_ID, STATUS, RATIONALE, CURRENT = range(8)


def text_of(fragment: str) -> str:
    """What a person reads in an HTML fragment."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def caption_of(item_id: str) -> str:
    """The first line of the message each item of tests.conftest.support_records answers."""
    n = int(item_id.rsplit("-", 1)[1])
    return "A Kobo Clara." if n == 0 else f"Subject: order {n}"


def client(url: str, name: str) -> Client:
    return Client(url, auth=(name, PASSWORD), verbose=False)


def judgment_rows(store: Store) -> list[tuple[str, ...]]:
    with store.cursor() as cur:
        return cur.execute(
            "SELECT annotator, pair_id, verdict, left_id, right_id FROM judgments WHERE kind = 'pair' ORDER BY seq"
        ).fetchall()


def test_the_api_has_exactly_the_named_endpoints(desk_server: tuple[str, Store]) -> None:
    url, _ = desk_server
    endpoints = client(url, "ana").view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/next_pair", "/submit_pair", "/undo"}


def test_a_wrong_password_is_refused(desk_server: tuple[str, Store]) -> None:
    url, _ = desk_server
    with pytest.raises(ValueError, match=rf"^Could not login to {re.escape(url)}\.$"):  # the desk's 400
        Client(url, auth=("ana", "not-the-password"), verbose=False)


def test_judging_through_the_api_records_sides_as_shown_and_never_repeats_a_pair(
    desk_server: tuple[str, Store],
) -> None:
    url, store = desk_server
    with store.cursor() as cur:
        response_of = {
            (item, content): rid
            for rid, item, content in cur.execute("SELECT id, item_id, content FROM responses").fetchall()
        }

    def shown_id(item_id: str, fragment: str) -> str:
        """The response whose text a side shows (support_records: bot-v1's says "shipped")."""
        n = int(item_id.rsplit("-", 1)[1])
        wanted = (
            f"Order {n} shipped on Monday."
            if "shipped on Monday" in text_of(fragment)
            else f"Please wait for order {n}."
        )
        return next(
            rid
            for (item, content), rid in response_of.items()
            if item == item_id and content.startswith(wanted)
        )

    shown = []  # (annotator, item, left id, right id), in the order judged
    for name in ("ana", "bob"):
        person = client(url, name)
        view = person.predict(api_name="/next_pair")
        seen = []
        while not view[CURRENT]["done"]:
            item = view[CURRENT]["item_id"]
            seen.append(item)  # one pair per item here
            assert "bot-v1" not in view[LEFT] + view[RIGHT]  # model names stay hidden
            shown.append((name, item, shown_id(item, view[LEFT]), shown_id(item, view[RIGHT])))
            view = person.predict(view[SHOWING_ID], "left", "clearer", api_name="/submit_pair")
        assert len(seen) == len(set(seen)) == 6
        assert view[CURRENT] | {"showing_id": ""} == {
            "showing_id": "",
            "item_id": None,
            "pair_id": None,
            "dataset": None,
            "question": None,
            "judged": 6,
            "total": 6,
            "done": True,
        }
    with store.cursor() as cur:
        rows = cur.execute(
            "SELECT j.annotator, p.item_id, j.left_id, j.right_id, j.verdict FROM judgments j"
            " JOIN pairs p ON p.id = j.pair_id WHERE j.kind = 'pair' ORDER BY j.seq"
        ).fetchall()
        canonical_left = {a for (a,) in cur.execute("SELECT response_a_id FROM pairs").fetchall()}
    assert [row[:4] for row in rows] == shown  # each side stored where it was shown
    assert {row[4] for row in rows} == {"left"}
    # Sides are random per showing: both ways round were shown here (all 12 one way: p = 2^-11).
    assert {left in canonical_left for _, _, left, _ in shown} == {True, False}


def test_a_double_submit_stores_one_judgment(desk_server: tuple[str, Store]) -> None:
    url, store = desk_server
    ana = client(url, "ana")
    first = ana.predict(api_name="/next_pair")
    after = ana.predict(first[SHOWING_ID], "right", "", api_name="/submit_pair")
    again = ana.predict(first[SHOWING_ID], "right", "", api_name="/submit_pair")
    assert "already saved" in again[STATUS]
    assert again[CURRENT]["pair_id"] == after[CURRENT]["pair_id"]  # still on the next pair
    assert len(judgment_rows(store)) == 1
    assert again[CURRENT]["judged"] == 1


def test_undo_withdraws_the_last_judgment_and_shows_that_pair_again(desk_server: tuple[str, Store]) -> None:
    url, store = desk_server
    ana = client(url, "ana")
    first = ana.predict(api_name="/next_pair")
    second = ana.predict(first[SHOWING_ID], "tie", "", api_name="/submit_pair")
    assert second[CURRENT]["judged"] == 1
    undone = ana.predict(api_name="/undo")
    assert undone[CURRENT]["pair_id"] == first[CURRENT]["pair_id"]
    assert undone[CURRENT]["judged"] == 0
    assert (undone[LEFT], undone[RIGHT]) == (first[LEFT], first[RIGHT])  # same sides as before
    ana.predict(undone[SHOWING_ID], "left", "", api_name="/submit_pair")
    with store.cursor() as cur:
        kinds = [k for (k,) in cur.execute("SELECT kind FROM judgments ORDER BY seq").fetchall()]
        in_force = cur.execute("SELECT verdict FROM current_pair_judgments").fetchall()
    assert kinds == ["pair", "undo", "pair"]
    assert in_force == [("left",)]


def test_undo_with_nothing_to_undo_says_so(desk_server: tuple[str, Store]) -> None:
    url, _ = desk_server
    ana = client(url, "ana")
    ana.predict(api_name="/next_pair")
    with pytest.raises(AppError, match="no judgment of yours left to undo"):
        ana.predict(api_name="/undo")


def test_two_annotators_judging_at_once_lose_nothing_and_export_counts_match(
    desk_server: tuple[str, Store], tmp_path: Path
) -> None:
    url, store = desk_server
    verdict_of = {"ana": "left", "bob": "left"}
    errors: list[BaseException] = []

    def judge_all(name: str) -> None:
        try:
            person = client(url, name)
            view = person.predict(api_name="/next_pair")
            while not view[CURRENT]["done"]:
                view = person.predict(view[SHOWING_ID], verdict_of[name], "", api_name="/submit_pair")
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=judge_all, args=(name,)) for name in verdict_of]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    rows = judgment_rows(store)
    assert len(rows) == 12
    assert {(r[0], r[1]) for r in rows} == {
        (name, pid) for name in verdict_of for pid in {r[1] for r in rows}
    }

    # Both said "left", but sides are shuffled per showing: where their left was the same
    # response they agree (exported), otherwise their votes split (skipped as disagreement).
    # All six can split (1 run in 64): allow_empty keeps that case a check of the counts too.
    by_pair: dict[str, set[str]] = {}
    for _, pid, _, left, _ in rows:
        by_pair.setdefault(pid, set()).add(left)
    agreed = sum(1 for lefts in by_pair.values() if len(lefts) == 1)
    manifest = run_export(
        store,
        tmp_path / "out",
        kind="dpo",
        target="trl",
        options=ExportOptions(allow_empty=True),
        now=utc_now,
    )
    assert manifest["records"] == agreed
    assert manifest["skipped"]["annotators_disagree"] == 6 - agreed
    lines = (tmp_path / "out" / "dpo_trl.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == agreed


def test_a_second_verdict_on_a_judged_showing_keeps_the_first(desk_server: tuple[str, Store]) -> None:
    url, store = desk_server
    ana = client(url, "ana")
    first = ana.predict(api_name="/next_pair")
    ana.predict(first[SHOWING_ID], "left", "", api_name="/submit_pair")
    again = ana.predict(first[SHOWING_ID], "right", "", api_name="/submit_pair")
    assert "already saved" in again[STATUS]
    assert [row[2] for row in judgment_rows(store)] == ["left"]


def test_a_showing_from_another_session_stores_nothing(desk_server: tuple[str, Store]) -> None:
    url, store = desk_server
    shown_to_bob = client(url, "bob").predict(api_name="/next_pair")
    ana = client(url, "ana")
    ana.predict(api_name="/next_pair")
    view = ana.predict(shown_to_bob[SHOWING_ID], "left", "", api_name="/submit_pair")
    assert "nothing was saved" in view[STATUS]
    assert judgment_rows(store) == []


def test_messages_say_which_verdict_was_saved_or_withdrawn_on_which_pair(
    desk_server: tuple[str, Store],
) -> None:
    url, _ = desk_server
    ana = client(url, "ana")
    first = ana.predict(api_name="/next_pair")
    assert (first[CURRENT]["dataset"], first[CURRENT]["question"]) == ("support", "Which response is better?")
    item = first[CURRENT]["item_id"]
    second = ana.predict(first[SHOWING_ID], "both_bad", "", api_name="/submit_pair")
    assert text_of(second[STATUS]) == f"Saved: both bad on the pair about “{caption_of(item)}” (item {item})."
    undone = ana.predict(api_name="/undo")
    assert undone[CURRENT]["item_id"] == item
    assert text_of(undone[STATUS]).startswith(
        f"Undone: your “both bad” on the pair about “{caption_of(item)}” (item {item}) is withdrawn."
    )


def test_a_verdict_when_nothing_is_shown_stores_nothing_and_says_so(desk_server: tuple[str, Store]) -> None:
    url, store = desk_server
    ana = client(url, "ana")
    view = ana.predict(api_name="/next_pair")
    while not view[CURRENT]["done"]:
        last = view[SHOWING_ID]
        view = ana.predict(last, "tie", "", api_name="/submit_pair")
    again = ana.predict("f" * 32, "left", "", api_name="/submit_pair")  # a key on the end screen
    assert text_of(again[STATUS]) == "That pair was no longer on screen: nothing was saved."
    assert again[CURRENT]["done"] is True
    repeated = ana.predict(last, "tie", "", api_name="/submit_pair")
    assert text_of(repeated[STATUS]) == "That pair was already saved: nothing changed."
    assert len(judgment_rows(store)) == 6
