"""The queue's index: overlap, holds that expire, and catching up with writes from any path."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from labeling.desk import Desk, ShownPair
from labeling.models import PairJudgment, PairVerdict
from labeling.queue import QueuePolicy
from store import judgments as log
from store.db import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def desk_with(store: Store, overlap: int | None, clock: Clock | None = None) -> Desk:
    desk = Desk(store, rng=random.Random(3), policy=QueuePolicy(overlap=overlap, hold=timedelta(minutes=10)))
    if clock is not None:
        desk.index.clock = clock
    return desk


def test_with_overlap_1_a_pair_on_someones_screen_is_not_offered_to_another(seeded_store: Store) -> None:
    desk = desk_with(seeded_store, overlap=1)
    on_screen = {name: desk.next_showing(name) for name in ("ana", "bob", "cy", "dee", "eve", "fay")}
    assert len({s.pair.id for s in on_screen.values() if s}) == 6
    assert desk.next_showing("gus") is None  # all six are held
    assert desk.progress("gus").total == 0
    desk.submit("ana", ShownPair.of(on_screen["ana"]), "left")  # type: ignore[arg-type]
    assert desk.next_showing("gus") is None  # ana's pair is judged once: enough
    assert desk.progress("ana").judged == 1


def test_a_reload_shows_the_held_pair_again_and_holds_expire(seeded_store: Store) -> None:
    clock = Clock()
    desk = desk_with(seeded_store, overlap=1, clock=clock)
    first = desk.next_showing("ana")
    assert first is not None
    again = desk.next_showing("ana")
    assert again is not None and again.pair.id == first.pair.id
    for name in ("b", "c", "d", "e", "f"):
        assert desk.next_showing(name) is not None
    assert desk.next_showing("late") is None
    clock.now += 11 * 60  # every hold expired: their pairs are open again
    late = desk.next_showing("late")
    assert late is not None


def test_overlap_2_asks_for_two_judgments_per_pair(seeded_store: Store) -> None:
    desk = desk_with(seeded_store, overlap=2)
    judged: dict[str, list[str]] = {}
    for name in ("ana", "bob", "cy"):
        while (showing := desk.next_showing(name)) is not None:
            desk.submit(name, ShownPair.of(showing), "tie")
            judged.setdefault(showing.pair.id, []).append(name)
    assert len(judged) == 6 and all(len(names) == 2 for names in judged.values())


def test_judgments_written_by_other_code_paths_are_seen_and_undo_reopens(seeded_store: Store) -> None:
    desk = desk_with(seeded_store, overlap=1)
    assert desk.progress("ana").total == 6
    with seeded_store.cursor() as cur:
        pair = cur.execute("SELECT id, item_id, response_a_id, response_b_id FROM pairs LIMIT 1").fetchone()
    when = datetime(2026, 1, 1)
    bulk = [
        PairJudgment("bulk-00001", "zed", pair[1], pair[0], pair[2], pair[3], PairVerdict.TIE, "", when, when)
    ]
    seeded_store.write(lambda tx: log.append_pair_judgments(tx.cur, bulk))  # e.g. a bulk load, not the desk
    assert desk.progress("ana").total == 5
    showing = desk.next_showing("ana")
    assert showing is not None and showing.pair.id != pair[0]
    desk.submit("ana", ShownPair.of(showing), "left")
    desk.undo("ana")
    assert desk.progress("ana").judged == 0 and desk.progress("ana").total == 5
