"""Judging use cases: idempotency, undo as an event, the queue, side randomisation."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest

from labeling.clock import utc_now
from labeling.desk import Desk, ShownPair
from labeling.errors import IdempotencyConflict, JudgmentError, NothingToUndo, StaleShowing
from labeling.judgments import record_pair_judgment
from store.db import Store


def desk(store: Store, seed: int = 7) -> Desk:
    return Desk(store, rng=random.Random(seed))


def log_rows(store: Store) -> list[tuple[str, ...]]:
    with store.cursor() as cur:
        return cur.execute(
            "SELECT id, kind, annotator, verdict, supersedes FROM judgments ORDER BY seq"
        ).fetchall()


def test_every_pair_is_shown_once_per_annotator_then_the_queue_is_empty(seeded_store: Store) -> None:
    d = desk(seeded_store)
    shown = []
    while (showing := d.next_showing("ana")) is not None:
        shown.append(showing.pair.id)
        d.submit("ana", ShownPair.of(showing), "tie")
    assert len(shown) == len(set(shown)) == 6
    assert d.progress("ana").judged == 6 and d.progress("ana").remaining == 0
    assert d.progress("bob").judged == 0  # one person's work does not count as another's


def test_the_least_judged_pair_comes_first(seeded_store: Store) -> None:
    d = desk(seeded_store)
    first = d.next_showing("ana")
    assert first is not None
    d.submit("ana", ShownPair.of(first), "left")
    assert d.next_showing("bob").pair.id != first.pair.id  # type: ignore[union-attr]


def test_sides_are_randomised_per_showing_and_stored_as_shown(seeded_store: Store) -> None:
    d = desk(seeded_store, seed=1)
    lefts = Counter()
    shown = []
    for annotator in (f"a{n}" for n in range(40)):
        showing = d.next_showing(annotator)
        assert showing is not None
        lefts[showing.left.id == showing.pair.response_a_id] += 1
        d.submit(annotator, ShownPair.of(showing), "left")
        shown.append((annotator, showing.pair.id, showing.left.id, showing.right.id))
    assert lefts[True] > 5 and lefts[False] > 5
    with seeded_store.cursor() as cur:
        stored = cur.execute(
            "SELECT annotator, pair_id, left_id, right_id FROM judgments ORDER BY seq"
        ).fetchall()
    assert stored == shown  # each side where that annotator saw it, swapped ones included


def test_a_double_submit_stores_one_judgment(seeded_store: Store) -> None:
    d = desk(seeded_store)
    showing = d.next_showing("ana")
    assert showing is not None
    first = d.submit("ana", ShownPair.of(showing), "left", rationale="names the refund window")
    second = d.submit("ana", ShownPair.of(showing), "left", rationale="names the refund window")
    assert (first.duplicate, second.duplicate) == (False, True)
    assert len(log_rows(seeded_store)) == 1


def test_concurrent_submits_of_one_client_id_store_one_judgment(seeded_store: Store) -> None:
    d = desk(seeded_store)
    showing = d.next_showing("ana")
    assert showing is not None
    results, errors = [], []

    def submit() -> None:
        try:
            results.append(d.submit("ana", ShownPair.of(showing), "right"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(not r.duplicate for r in results) == 1
    assert len(log_rows(seeded_store)) == 1


def test_reusing_a_client_id_for_another_verdict_is_refused(seeded_store: Store) -> None:
    d = desk(seeded_store)
    showing = d.next_showing("ana")
    assert showing is not None
    d.submit("ana", ShownPair.of(showing), "left")
    with pytest.raises(IdempotencyConflict, match="already used"):
        d.submit("ana", ShownPair.of(showing), "right")
    assert len(log_rows(seeded_store)) == 1


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"verdict": "maybe"}, JudgmentError, "unknown verdict 'maybe'"),
        ({"client_id": "x"}, JudgmentError, "client id"),
        ({"pair_id": "p_missing"}, StaleShowing, "the pair shown is no longer stored"),
        ({"left_id": "r_other"}, StaleShowing, "not the two responses"),
        ({"rationale": "x" * 5001}, JudgmentError, "too long"),
    ],
)
def test_bad_submissions_are_refused_and_store_nothing(
    seeded_store: Store, change: dict[str, str], error: type[Exception], message: str
) -> None:
    showing = desk(seeded_store).next_showing("ana")
    assert showing is not None
    fields = {
        "client_id": showing.showing_id,
        "annotator": "ana",
        "pair_id": showing.pair.id,
        "left_id": showing.left.id,
        "right_id": showing.right.id,
        "verdict": "left",
        "rationale": "",
    }
    with pytest.raises(error, match=message):
        record_pair_judgment(seeded_store, **{**fields, **change}, now=utc_now)
    assert log_rows(seeded_store) == []


def test_undo_is_a_new_event_and_returns_the_pair_to_the_queue(seeded_store: Store) -> None:
    d = desk(seeded_store)
    first = d.next_showing("ana")
    assert first is not None
    d.submit("ana", ShownPair.of(first), "left")
    second = d.next_showing("ana")
    assert second is not None
    d.submit("ana", ShownPair.of(second), "right")
    undone = d.undo("ana")
    assert undone.pair_id == second.pair.id
    assert d.undo("ana").pair_id == first.pair.id  # undo again: the one before
    with pytest.raises(NothingToUndo):
        d.undo("ana")
    kinds = [row[1] for row in log_rows(seeded_store)]
    assert kinds == ["pair", "pair", "undo", "undo"]  # nothing deleted or updated
    assert d.progress("ana").judged == 0
    again = d.show_again(undone)
    assert (again.left.id, again.right.id) == (second.left.id, second.right.id)


def test_an_undo_retried_with_the_same_id_undoes_once(seeded_store: Store) -> None:
    d = desk(seeded_store)
    for _ in range(2):
        showing = d.next_showing("ana")
        assert showing is not None
        d.submit("ana", ShownPair.of(showing), "left")
    first = d.undo("ana", undo_id="undo-0001")
    assert d.undo("ana", undo_id="undo-0001") == first
    assert d.progress("ana").judged == 1


def test_judging_a_pair_again_after_undo_counts_once(seeded_store: Store) -> None:
    d = desk(seeded_store)
    showing = d.next_showing("ana")
    assert showing is not None
    d.submit("ana", ShownPair.of(showing), "left")
    d.submit("ana", ShownPair.of(d.show_again(d.undo("ana"))), "right")
    with seeded_store.cursor() as cur:
        assert cur.execute("SELECT verdict FROM current_pair_judgments").fetchall() == [("right",)]
