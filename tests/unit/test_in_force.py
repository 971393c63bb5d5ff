"""Which judgments are in force is defined once (migration 0008): the queue's in-memory index,
told by the writer or reading the log, always agrees with the store's `current_pair_judgments`,
which the stats and the exports read, over random logs of judgments, re-judgments, undos, and
a kind of event the desk does not have yet (with undos of its own)."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from labeling import judgments
from labeling.errors import NothingToUndo
from labeling.ingest import import_files
from labeling.queue import PairIndex
from store.db import Store, Tx, open_store
from store.queue import log_state
from tests.conftest import support_records, write_jsonl

ANNOTATORS = ("ana", "bob", "cy")
WHEN = datetime(2026, 1, 1)

# (what, annotator, pair position); "vibe" is an event kind added here, not in the desk.
Step = tuple[str, str, int]
steps = st.lists(
    st.tuples(
        st.sampled_from(["judge", "judge", "judge", "undo", "vibe", "undo_vibe"]),
        st.sampled_from(ANNOTATORS),
        st.integers(0, 3),
    ),
    max_size=30,
)


def pairs_of(store: Store) -> list[tuple[str, str, str, str]]:
    with store.cursor() as cur:
        rows = cur.execute(
            "SELECT id, item_id, response_a_id, response_b_id FROM pairs ORDER BY seq"
        ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def apply(store: Store, step: Step, number: int, pairs: list[tuple[str, str, str, str]]) -> str:
    """Write one step; returns which branch it took (so the test can tell it reached them)."""
    what, annotator, position = step
    pair_id, item_id, a_id, b_id = pairs[position]
    if what == "judge":  # through the desk's own writer path: the index is told
        judgment = judgments.new_pair_judgment(
            store,
            client_id=f"client-{number:04d}",
            annotator=annotator,
            pair_id=pair_id,
            left_id=a_id,
            right_id=b_id,
            verdict="left",
            now=lambda: WHEN,
        )
        judgments.submit_pair_judgment(store, judgment).result()
        return "judged"
    if what == "undo":
        try:
            judgments.undo_last(store, annotator=annotator, client_id=f"undo-{number:04d}", now=lambda: WHEN)
        except NothingToUndo:
            return "nothing to undo"
        return "undone"
    if what == "vibe":  # a new kind of event on a pair, written past the desk: must count nothing

        def vibe(tx: Tx) -> None:
            tx.cur.execute(
                "INSERT INTO judgments (id, kind, annotator, item_id, pair_id, submitted_at) "
                "VALUES (?, 'vibe', ?, ?, ?, ?)",
                [f"{annotator}/vibe-{number:04d}", annotator, item_id, pair_id, WHEN],
            )

        store.write(vibe)
        return "vibe"

    def undo_vibe(tx: Tx) -> str:  # withdraws the annotator's latest vibe: must count nothing either
        row = tx.cur.execute(
            "SELECT id, item_id, pair_id FROM judgments j WHERE annotator = ? AND kind = 'vibe' "
            "AND NOT EXISTS (SELECT 1 FROM superseded s WHERE s.event_id = j.id) ORDER BY seq DESC LIMIT 1",
            [annotator],
        ).fetchone()
        if row is None:
            return "no vibe to undo"
        undo_id = f"{annotator}/unvibe-{number:04d}"
        tx.cur.execute("INSERT INTO superseded VALUES (?, ?)", [row[0], undo_id])
        tx.cur.execute(
            "INSERT INTO judgments (id, kind, annotator, item_id, pair_id, supersedes, submitted_at) "
            "VALUES (?, 'undo', ?, ?, ?, ?, ?)",
            [undo_id, annotator, row[1], row[2], row[0], WHEN],
        )
        return "vibe undone"

    return store.write(undo_vibe)


def in_force_by_store(store: Store) -> dict[str, set[str]]:
    with store.cursor() as cur:
        rows = cur.execute("SELECT annotator, pair_id FROM current_pair_judgments").fetchall()
    found: dict[str, set[str]] = {name: set() for name in ANNOTATORS}
    for annotator, pair_id in rows:
        found[annotator].add(pair_id)
    return found


def in_force_by_index(index: PairIndex) -> dict[str, set[str]]:
    return {name: index.judged_pairs(name) for name in ANNOTATORS}


def read_whole_log(store: Store, slice_size: int) -> dict[str, list[tuple[int, int]]]:
    with store.cursor() as cur:
        state = log_state(cur, 10**9, slice_size=slice_size)
    return {
        name: sorted(zip(positions.tolist(), counts.tolist(), strict=True))
        for name, (positions, counts) in state.by_annotator.items()
    }


reached: set[str] = set()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Every kind of step at least once, whatever the random examples happen to reach.
@example(
    before=[("undo", "ana", 0), ("judge", "ana", 0), ("vibe", "bob", 1), ("judge", "cy", 1)],
    after=[("undo", "ana", 0), ("undo_vibe", "bob", 1), ("judge", "bob", 1), ("undo", "cy", 1)],
    slice_size=2,
)
@given(before=steps, after=steps, slice_size=st.integers(1, 6))
def test_the_index_and_the_store_agree_on_what_is_in_force(
    before: list[Step], after: list[Step], slice_size: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(":memory:")
        try:
            source = write_jsonl(Path(folder) / "s.jsonl", support_records(4))
            import_files(store, [source], dataset="support")
            pairs = pairs_of(store)
            for number, step in enumerate(before):  # the index reads these from the log
                reached.add(apply(store, step, number, pairs))
            index = PairIndex(store)
            assert in_force_by_index(index) == in_force_by_store(store)
            # The first read sums the log a slice at a time: any slicing gives the same state (a
            # judgment and its undo in different slices included).
            assert read_whole_log(store, slice_size) == read_whole_log(store, 10**9)
            for number, step in enumerate(after, start=len(before)):  # told, or read after a vibe
                reached.add(apply(store, step, number, pairs))
                assert in_force_by_index(index) == in_force_by_store(store), step
            votes = {pair_id: index.votes(pair_id) for pair_id, *_ in pairs}
            by_store = in_force_by_store(store)
            assert votes == {p: sum(p in mine for mine in by_store.values()) for p, *_ in pairs}
        finally:
            store.close()


def test_the_property_reached_every_kind_of_step() -> None:
    """Run after the property: each branch was taken at least once."""
    if not reached:  # this test alone
        test_the_index_and_the_store_agree_on_what_is_in_force()
    assert {"judged", "undone", "vibe", "vibe undone", "nothing to undo"} <= reached
