"""Blind and honest judging, attacked as a hostile annotator would (issue 9, failures 5-7).

- Unblinding: stored response ids are a plain hash of item id, model and content, and an
  annotator sees the item id and the content; hashing guessed model names against every id the
  annotator can see must match nothing.
- Overlap: a judgment must name a showing the desk gave its caller, and a pair that has the
  judgments the overlap asks for refuses more, whatever the holds (expired, lost in a restart).
- Undo: two undos at once withdraw two judgments, never one twice; the store refuses a second
  event superseding one event; the queue's index equals the store's view after a restart.
- Client ids are per annotator: a colleague cannot take yours first.
- A per-annotator rate limit on judgments and undos: 429 with Retry-After.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

import duckdb
import pytest
from gradio_client import Client

from labeling.clock import utc_now
from labeling.desk import Desk, ShownPair
from labeling.errors import IdempotencyConflict, JudgmentError
from labeling.ingest import import_files
from labeling.models import PairJudgment
from labeling.queue import QueuePolicy
from store.db import Store, latest_schema_version, migrations, open_store
from store.errors import EventAlreadySuperseded
from tests.app.conftest import RestDesk, judgment_body, served_desk, start_rest_desk
from tests.conftest import PASSWORD, free_port, support_records, write_jsonl

PROMPT, LEFT, RIGHT, PROGRESS, SHOWING_ID, STATUS, RATIONALE, CURRENT = range(8)
# What a hostile annotator would try: the models in the data, common names, the TRL importer's.
GUESSED_MODELS = ("bot-v1", "bot-v2", "bot-v3", "gpt-4o", "claude", "source:chosen", "source:rejected")


# --- the attacker's own arithmetic (written from the import docs, not imported from the code) ---


def unkeyed(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).hexdigest()


def guessed_ids(item_id: str, contents: list[str]) -> dict[str, str]:
    """Every response id and pair id the guesses give for an item's shown contents -> the model(s)."""
    responses = {
        f"r_{unkeyed(item_id, model, content)}": model for model in GUESSED_MODELS for content in contents
    }
    pairs = {
        f"p_{unkeyed(*sorted((x, y)))}": f"{responses[x]} vs {responses[y]}"
        for x, y in combinations(responses, 2)
    }
    return {**responses, **pairs}


def ids_in(value: Any) -> set[str]:
    """Every string anywhere in an answer (ids hide in nested JSON and in HTML attributes)."""
    if isinstance(value, dict):
        return set().union(*(ids_in(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(ids_in(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) else set()


def matches(visible: set[str], guessed: dict[str, str]) -> dict[str, str]:
    """Guessed ids that appear in what the annotator saw (also inside longer text such as HTML)."""
    text = "\n".join(visible)
    return {found: model for found, model in guessed.items() if found in text}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[RestDesk]:
    """A real server: annotators ana and bob, admin root, each with a token; 6 items of 2 responses."""
    with served_desk(tmp_path) as desk:
        yield desk


# --- 1. Blindness -----------------------------------------------------------------------------


def test_hashing_guessed_model_names_matches_no_id_an_annotator_sees(tmp_path: Path) -> None:
    desk, server = start_rest_desk(tmp_path, items=3)
    trl = [
        {"prompt": f"Summarise ticket {n}.", "chosen": f"Ticket {n}: refund sent.", "rejected": "No idea."}
        for n in range(3)
    ]
    try:
        with desk.client("root") as root:
            added = root.post("/items", json={"dataset": "prefs", "format": "trl", "records": trl})
            assert added.status_code == 201, added.text
        with desk.store.cursor() as cur:
            stored = dict(cur.execute("SELECT id, model FROM responses").fetchall())
        # The attack works on the stored ids: the guesses hold every model and the TRL labels.
        assert set(stored.values()) <= set(GUESSED_MODELS)

        seen: list[tuple[dict[str, Any], set[str]]] = []  # (shown pair, everything seen about it)
        with desk.client("ana") as ana:
            for _ in range(6):
                shown = ana.get("/pairs/next").json()["pair"]
                answered = ana.post("/judgments", json=judgment_body(shown, "left"))
                assert answered.status_code == 201, answered.text
                # Ids are shown, and the answer speaks the ids shown: a script can match them up.
                recorded = answered.json()
                assert (recorded["pair_id"], recorded["left_id"], recorded["preferred_id"]) == (
                    shown["pair_id"], shown["left"]["id"], shown["left"]["id"],
                )  # fmt: skip
                assert len({shown["pair_id"], shown["left"]["id"], shown["right"]["id"]}) == 3
                seen.append((shown, ids_in(shown) | ids_in(recorded)))
            assert ana.get("/pairs/next").json()["pair"] is None
            undone = ana.post("/undo", json={"client_id": uuid.uuid4().hex}).json()
            log = ana.get("/judgments").json()
        gradio = Client(desk.url, auth=("bob", PASSWORD), verbose=False)
        views = [gradio.predict(api_name="/next_pair")]
        for _ in range(5):
            views.append(gradio.predict(views[-1][SHOWING_ID], "right", "", api_name="/submit_pair"))
        views.append(gradio.predict(api_name="/undo"))
        gradio.close()
    finally:
        server.close()
        desk.store.close()

    everything_seen = ids_in(undone) | ids_in(log) | {s for _, ids in seen for s in ids}
    for view in views:
        everything_seen |= ids_in(list(view))
    found: dict[str, str] = {}
    for shown, _ in seen:
        contents = [shown["left"]["content"], shown["right"]["content"]]
        guessed = guessed_ids(shown["item_id"], contents)
        stored_here = {r for r in stored if r in guessed}
        assert len(stored_here) == 2  # each side's stored id is among the guesses
        found |= matches(everything_seen, guessed)
    assert found == {}  # no id anyone was shown says which model wrote which side


def legacy_store(db: Path) -> Store:
    """A store file at schema 5, the schema before 0007, as the code before it left stores."""
    connection = duckdb.connect(str(db))
    connection.execute(
        "CREATE TABLE prefdesk_schema (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMP NOT NULL)"
    )
    for migration in migrations():
        if migration.version <= 5:
            connection.execute(migration.sql)
            connection.execute(
                "INSERT INTO prefdesk_schema VALUES (?, ?, now()::TIMESTAMP)",
                [migration.version, migration.name],
            )
    return Store(connection, str(db))


def legacy_judgment(
    cur: duckdb.DuckDBPyConnection, judgment_id: str, annotator: str, item_id: str, pair: tuple[str, str, str],
    verdict: str, *, first_left: bool = True,
) -> None:  # fmt: skip
    """A pair judgment as the old code stored it: under the bare client id."""
    pair_id, first, second = pair
    left, right = (first, second) if first_left else (second, first)
    cur.execute(
        "INSERT INTO judgments (id, kind, annotator, item_id, pair_id, left_id, right_id, verdict, tags, "
        "submitted_at) VALUES (?, 'pair', ?, ?, ?, ?, ?, ?, '[]', TIMESTAMP '2026-11-23 09:00')",
        [judgment_id, annotator, item_id, pair_id, left, right, verdict],
    )


def legacy_undo(
    cur: duckdb.DuckDBPyConnection, undo_id: str, annotator: str, item_id: str, pair_id: str, undone: str
) -> None:
    cur.execute(
        "INSERT INTO judgments (id, kind, annotator, item_id, pair_id, supersedes, submitted_at) "
        "VALUES (?, 'undo', ?, ?, ?, ?, TIMESTAMP '2026-11-23 09:01')",
        [undo_id, annotator, item_id, pair_id, undone],
    )


def test_exports_of_a_store_are_unchanged_by_migration_0007(tmp_path: Path) -> None:
    """A store made before 0007, with the golden fixture's judgments under bare client ids and two
    undos of one judgment at once (as the race wrote them), exports the golden files after the
    migration, and every export is byte-identical to what it was before."""
    from exports.options import ExportOptions
    from exports.run import run_export
    from tests.unit.test_exports import GOLDEN, RECORDS, VARIANTS

    db = tmp_path / "old.duckdb"
    old = legacy_store(db)
    import_files(old, [write_jsonl(tmp_path / "golden.jsonl", RECORDS)], dataset="golden")
    with old.cursor() as cur:
        pairs = {
            source: (pair, v1, v2)
            for source, pair, v1, v2 in cur.execute(
                "SELECT i.source_id, p.id, r1.id, r2.id FROM pairs p JOIN items i ON i.id = p.item_id "
                "JOIN responses r1 ON r1.item_id = i.id AND r1.model = 'v1' "
                "JOIN responses r2 ON r2.item_id = i.id AND r2.model = 'v2'"
            ).fetchall()
        }
        # tests/unit/test_exports.py's judged_store: (annotator, item, verdict, v1 on the left)
        plan = [
            ("ana", "multi", "left", True), ("bob", "multi", "right", False), ("ana", "tie", "tie", True),
            ("ana", "bad", "both_bad", True), ("bob", "bad", "both_bad", True), ("ana", "split", "left", True),
            ("bob", "split", "right", True), ("ana", "undone", "left", True), ("ana", "majority", "right", True),
            ("bob", "majority", "left", True), ("cem", "majority", "right", False),
        ]  # fmt: skip
        for n, (annotator, source, verdict, v1_left) in enumerate(plan):
            legacy_judgment(cur, f"judgment-{n:04d}", annotator, f"golden/{source}", pairs[source], verdict,
                            first_left=v1_left)  # fmt: skip
        for undo_id in ("undo-00001", "undo-00001b"):  # two undos at once of ana's "undone"
            legacy_undo(cur, undo_id, "ana", "golden/undone", pairs["undone"][0], "judgment-0007")

    def export_all(store: Store, out: Path) -> dict[str, bytes]:
        files = {}
        for kind, target, flags, name in VARIANTS:
            # The first pass's eval sets keep their items out of training: the second pass trains on them.
            evals = kind == "evals"
            options = ExportOptions(**flags, all_items=evals, allow_eval_overlap=not evals)
            run_export(store, out / name, kind=kind, target=target, options=options, now=utc_now)
            files[name] = (out / name / f"{kind}_{target}.jsonl").read_bytes()
        for target in ("csv", "jsonl"):
            run_export(store, out / target, kind="judgments", target=target, now=utc_now)
            files[f"judgments.{target}"] = (out / target / f"judgments.{target}").read_bytes()
        return files

    before = export_all(old, tmp_path / "before")
    old.close()
    migrated = open_store(db)
    try:
        assert migrated.schema_version() == latest_schema_version()  # 0007 and every later one
        after = export_all(migrated, tmp_path / "after")
        with migrated.cursor() as cur:
            ids = [row[0] for row in cur.execute("SELECT id FROM judgments ORDER BY seq").fetchall()]
            withdrawn = cur.execute("SELECT event_id, by_event FROM superseded").fetchall()
    finally:
        migrated.close()
    assert after == before
    for *_, name in VARIANTS:
        assert after[name] == (GOLDEN / name).read_bytes(), name
    assert ids == [f"judgment-{n:04d}" for n in range(11)] + ["undo-00001", "undo-00001b"]
    assert withdrawn == [("judgment-0007", "undo-00001")]  # by the first of the two undos


def test_after_two_undos_of_one_judgment_the_queue_counts_what_the_store_holds(tmp_path: Path) -> None:
    """Before 0007, two undos at once could both withdraw one judgment; the queue, counting undos,
    then took the pair as not judged once the annotator judged it again, and offered it again."""
    db = tmp_path / "old.duckdb"
    old = legacy_store(db)
    import_files(old, [write_jsonl(tmp_path / "s.jsonl", support_records(3))], dataset="s")
    with old.cursor() as cur:
        pairs = cur.execute(
            "SELECT id, item_id, response_a_id, response_b_id FROM pairs ORDER BY seq"
        ).fetchall()
        first, item = (pairs[0][0], pairs[0][2], pairs[0][3]), pairs[0][1]
        legacy_judgment(cur, "judgment-0001", "ana", item, first, "left")
        legacy_undo(cur, "undo-0001", "ana", item, first[0], "judgment-0001")
        legacy_undo(cur, "undo-0002", "ana", item, first[0], "judgment-0001")  # at once, the same
        legacy_judgment(cur, "judgment-0002", "ana", item, first, "right")  # judged again: in force
    old.close()

    store = open_store(db)
    try:
        with store.cursor() as cur:
            in_force = cur.execute(
                "SELECT pair_id FROM current_pair_judgments WHERE annotator = 'ana'"
            ).fetchall()
        assert in_force == [(first[0],)]
        desk = Desk(store)  # what a restarted desk builds: the index, from the whole log
        assert desk.progress("ana").judged == 1
        offered = []
        while (showing := desk.next_showing("ana")) is not None:
            offered.append(showing.pair.id)
            desk.submit("ana", ShownPair.of(showing), "tie")
        assert sorted(offered) == sorted(p[0] for p in pairs[1:])  # never the pair in force again
    finally:
        store.close()


# --- 2. Overlap: a judgment names a showing of its caller's; the quota holds at submit -------------


def test_over_rest_a_judgment_must_name_a_showing_given_to_its_caller(tmp_path: Path) -> None:
    """With --overlap 1, three annotators stored judgments on one pair: bob and cy sent the pair and
    sides ana was shown (any pair id would do), with no showing of their own."""
    desk, server = start_rest_desk(tmp_path, items=1, annotators=("ana", "bob", "cy"), overlap=1)
    try:
        with desk.client("ana") as ana, desk.client("bob") as bob, desk.client("cy") as cy:
            shown = ana.get("/pairs/next").json()["pair"]
            assert bob.get("/pairs/next").json()["pair"] is None  # held for ana
            copied = {k: v for k, v in judgment_body(shown, "right").items() if k != "showing_id"}
            without = bob.post("/judgments", json=copied)
            borrowed = cy.post("/judgments", json={**copied, "showing_id": shown["showing_id"]})
            made_up = cy.post("/judgments", json={**copied, "showing_id": uuid.uuid4().hex})
            recorded = ana.post("/judgments", json=judgment_body(shown, "left"))
        rows = desk.judgment_rows()
    finally:
        server.close()
        desk.store.close()
    assert [(row[1], row[3]) for row in rows] == [("ana", "left")]  # one judgment, ana's
    assert recorded.status_code == 201
    assert without.status_code == 422
    assert without.json()["error"] == "invalid request: body.showing_id: Field required"
    for refused in (borrowed, made_up):
        assert refused.status_code == 409
        showing_id = refused.request.read() and json.loads(refused.request.read())["showing_id"]
        assert refused.json()["error"] == (
            f"showing {showing_id!r} is not one this desk gave you (or the desk restarted since): "
            "nothing was recorded; load the next pair and judge it"
        )


def test_the_time_a_pair_was_shown_is_the_desks_own(served: RestDesk) -> None:
    """Time on task is evidence of care: a script must not make it up."""
    with served.client("ana") as ana:
        shown = ana.get("/pairs/next").json()["pair"]
        body = judgment_body(shown, shown_at="2020-01-01T00:00:00Z")
        answered = ana.post("/judgments", json=body)
    with served.store.cursor() as cur:
        stored = cur.execute("SELECT shown_at FROM judgments").fetchall()
    assert answered.status_code == 201
    assert [f"{when.isoformat()}Z" for (when,) in stored] == [shown["shown_at"]]
    assert answered.json()["shown_at"] == shown["shown_at"]


def overlap_desk(store: Store, overlap: int, clock: list[float]) -> Desk:
    desk = Desk(store, rng=random.Random(3), policy=QueuePolicy(overlap=overlap, hold=timedelta(minutes=30)))
    desk.index.clock = lambda: clock[0]
    return desk


def test_the_overlap_holds_at_submit_when_holds_expire_even_for_submits_at_once(tmp_path: Path) -> None:
    """Six people are given the one pair, as holds expire (30 minutes on screen), and all submit at
    once: with an overlap of 2, two judgments are recorded."""
    store = open_store(":memory:")
    import_files(store, [write_jsonl(tmp_path / "s.jsonl", support_records(1))], dataset="s")
    clock = [0.0]
    desk = overlap_desk(store, 2, clock)
    people = [f"p{n}" for n in range(6)]
    shown: dict[str, ShownPair] = {}
    for name in people:
        showing = desk.next_showing(name)
        if showing is None:  # two people hold it: it is offered again once their holds expire
            clock[0] += 31 * 60
            showing = desk.next_showing(name)
        assert showing is not None
        shown[name] = ShownPair.of(showing)
    barrier = threading.Barrier(len(people))
    outcomes: dict[str, str] = {}

    def submit(name: str) -> None:
        barrier.wait()
        try:
            desk.submit(name, shown[name], "left")
            outcomes[name] = "recorded"
        except JudgmentError as exc:
            outcomes[name] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=submit, args=(name,)) for name in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with store.cursor() as cur:
        stored = cur.execute(
            "SELECT count(*) FROM judgments WHERE pair_id = ?", [shown["p0"].pair_id]
        ).fetchone()
    store.close()
    assert stored == (2,)
    refusal = (
        "PairFullyJudged: this pair already has the 2 judgment(s) asked for (overlap 2): yours was not "
        "recorded; load the next pair"
    )
    assert sorted(outcomes.values()) == sorted(["recorded"] * 2 + [refusal] * 4)


def test_a_verdict_sent_after_its_hold_expired_and_others_judged_the_pair_is_refused(
    seeded_store: Store,
) -> None:
    clock = [0.0]
    desk = overlap_desk(seeded_store, 1, clock)
    late = desk.next_showing("ana")
    assert late is not None
    clock[0] += 31 * 60  # ana's hold expires: the pair is offered again
    while (showing := desk.next_showing("bob")) is not None and showing.pair.id != late.pair.id:
        desk.submit("bob", ShownPair.of(showing), "right")
    assert showing is not None
    desk.submit("bob", ShownPair.of(showing), "right")
    with pytest.raises(JudgmentError) as refused:
        desk.submit("ana", ShownPair.of(late), "left")
    with seeded_store.cursor() as cur:
        judged_by = cur.execute(
            "SELECT annotator FROM judgments WHERE pair_id = ?", [late.pair.id]
        ).fetchall()
    assert judged_by == [("bob",)]
    assert str(refused.value).startswith("this pair already has the 1 judgment(s) asked for (overlap 1)")


def test_a_restart_does_not_let_a_pair_shown_before_it_be_judged_twice(tmp_path: Path) -> None:
    """Holds live in memory: after a restart the pair on ana's screen is offered to bob. Her
    showing is from before the restart: it records nothing, and says why. A verdict recorded
    before the restart and sent again (a retry) is still answered as recorded."""
    store = open_store(tmp_path / "desk.duckdb")
    import_files(store, [write_jsonl(tmp_path / "s.jsonl", support_records(2))], dataset="s")
    first = overlap_desk(store, 1, [0.0])
    cy_shown = first.next_showing("cy")
    before = first.next_showing("ana")
    assert before is not None and cy_shown is not None and cy_shown.pair.id != before.pair.id
    recorded = first.submit("cy", ShownPair.of(cy_shown), "tie")
    after = overlap_desk(store, 1, [0.0])  # the desk restarted on the same store
    retried = after.submit("cy", ShownPair.of(cy_shown), "tie")
    bobs = after.next_showing("bob")
    assert bobs is not None and bobs.pair.id == before.pair.id
    after.submit("bob", ShownPair.of(bobs), "right")
    with pytest.raises(JudgmentError) as refused:
        after.submit("ana", ShownPair.of(before), "left")
    with store.cursor() as cur:
        judged_by = cur.execute("SELECT annotator FROM judgments ORDER BY seq").fetchall()
    store.close()
    assert judged_by == [("cy",), ("bob",)]
    assert (retried.duplicate, retried.judgment) == (True, recorded.judgment)
    assert str(refused.value) == (
        f"showing {before.showing_id!r} is not one this desk gave you (or the desk restarted since): "
        "nothing was recorded; load the next pair and judge it"
    )


# --- 3. Undo: never twice the same judgment ----------------------------------------------------


def test_undos_at_once_from_many_threads_withdraw_each_judgment_once(tmp_path: Path) -> None:
    """25 rounds of: ana judges four pairs, then eight undos of hers start at once. Four withdraw
    the four judgments and four find nothing left. Then she judges every pair, and the index that a
    restart rebuilds from the log equals the store's view."""
    db = tmp_path / "desk.duckdb"
    store = open_store(db)
    import_files(store, [write_jsonl(tmp_path / "s.jsonl", support_records(6))], dataset="s")
    desk = Desk(store, rng=random.Random(5))
    for _ in range(25):
        judged = []
        for _ in range(4):
            showing = desk.next_showing("ana")
            assert showing is not None
            judged.append(desk.submit("ana", ShownPair.of(showing), "left").judgment.id)
        barrier = threading.Barrier(8)
        undone: list[str] = []
        nothing: list[str] = []

        def undo(
            barrier: threading.Barrier = barrier, undone: list[str] = undone, nothing: list[str] = nothing
        ) -> None:
            barrier.wait()
            try:
                undone.append(desk.undo("ana").id)
            except JudgmentError as exc:
                nothing.append(str(exc))

        threads = [threading.Thread(target=undo) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(undone) == sorted(judged)  # each once
        assert nothing == ["there is no judgment of yours left to undo"] * 4
    while (showing := desk.next_showing("ana")) is not None:  # pairs undone twice would come back
        desk.submit("ana", ShownPair.of(showing), "tie")
    with store.cursor() as cur:
        (in_force,) = cur.execute("SELECT count(*) FROM current_pair_judgments").fetchone()  # type: ignore[misc]
        superseded = [
            row[0] for row in cur.execute("SELECT supersedes FROM judgments WHERE kind = 'undo'").fetchall()
        ]
    store.close()
    assert len(superseded) == len(set(superseded)) == 100
    assert in_force == 6  # every pair, once
    restarted = open_store(db)
    try:
        assert Desk(restarted).progress("ana").judged == in_force
    finally:
        restarted.close()


def test_the_store_refuses_a_second_event_superseding_one_event(seeded_store: Store) -> None:
    """What the write lock ensures in this process, the store also refuses: a second undo of one
    judgment, written past the use case (two cursors, two transactions at once)."""
    from store import judgments as log

    desk = Desk(seeded_store)
    showing = desk.next_showing("ana")
    assert showing is not None
    judgment = desk.submit("ana", ShownPair.of(showing), "left").judgment
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def second_undo(n: int) -> None:
        with seeded_store.cursor() as cur:
            barrier.wait()
            cur.execute("BEGIN TRANSACTION")
            try:
                log.insert_undo(cur, undo_id=f"ana/undo-{n}", annotator="ana", undone=judgment, now=utc_now())
                cur.execute("COMMIT")
                outcomes.append("written")
            except Exception as exc:  # the store's refusal, or DuckDB's at commit (rolled back)
                if not isinstance(exc, duckdb.TransactionException):
                    cur.execute("ROLLBACK")
                outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=second_undo, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with seeded_store.cursor() as cur:
        undos = cur.execute("SELECT count(*) FROM judgments WHERE kind = 'undo'").fetchone()
    assert undos == (1,)
    assert outcomes.count("written") == 1
    assert set(outcomes) - {"written"} <= {"EventAlreadySuperseded", "TransactionException"}
    with pytest.raises(EventAlreadySuperseded) as refused:  # through the writer, one at a time
        seeded_store.write(
            lambda tx: log.insert_undo(
                tx.cur, undo_id="ana/undo-late", annotator="ana", undone=judgment, now=utc_now()
            )
        )
    assert (
        str(refused.value)
        == f"judgment {judgment.id!r} was already withdrawn by another undo: nothing was written"
    )


@pytest.fixture
def served_without_rate(tmp_path: Path) -> Iterator[RestDesk]:
    """`served` without the judging rate limit: 48 verdicts and undos in a few seconds."""
    with served_desk(tmp_path, judging_rate=None) as desk:
        yield desk


def test_two_sessions_of_one_annotator_undoing_at_once_withdraw_two_judgments(
    served_without_rate: RestDesk,
) -> None:
    """Two browser sessions of ana (Gradio's endpoints, run in parallel threads by its queue):
    she judges two pairs, then both sessions undo at once, for 12 rounds."""
    served = served_without_rate
    url = served.url
    sessions = [Client(url, auth=("ana", PASSWORD), verbose=False) for _ in range(2)]
    view = sessions[0].predict(api_name="/next_pair")
    for _ in range(12):
        for _ in range(2):
            view = sessions[0].predict(view[SHOWING_ID], "left", "", api_name="/submit_pair")
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def undo(
            client: Client, barrier: threading.Barrier = barrier, errors: list[BaseException] = errors
        ) -> None:
            barrier.wait()
            try:
                client.predict(api_name="/undo")
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=undo, args=(client,)) for client in sessions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors
        view = sessions[0].predict(api_name="/next_pair")
    for session in sessions:
        session.close()
    with served.store.cursor() as cur:
        superseded = [
            row[0] for row in cur.execute("SELECT supersedes FROM judgments WHERE kind = 'undo'").fetchall()
        ]
        in_force = cur.execute("SELECT count(*) FROM current_pair_judgments").fetchone()
    assert len(superseded) == 24 and len(set(superseded)) == 24
    assert in_force == (0,)


# --- 4. Client ids are each annotator's own ----------------------------------------------------


def test_a_colleague_cannot_take_your_client_ids_first(seeded_store: Store) -> None:
    """Client ids are often predictable (a counter, a timestamp): bob used ana's next ones first."""
    desk = Desk(seeded_store)
    bobs, anas = desk.next_showing("bob"), desk.next_showing("ana")
    assert bobs is not None and anas is not None
    desk.submit("bob", ShownPair.of(bobs), "left", judgment_id="c-00000001")
    mine = desk.submit("ana", ShownPair.of(anas), "right", judgment_id="c-00000001")
    again = desk.submit("ana", ShownPair.of(anas), "right", judgment_id="c-00000001")
    with pytest.raises(IdempotencyConflict, match="client id 'c-00000001' was already used for a different"):
        desk.submit("ana", ShownPair.of(anas), "left", judgment_id="c-00000001")
    desk.undo("bob", "u-00000001")
    undone: PairJudgment = desk.undo("ana", "u-00000001")
    with seeded_store.cursor() as cur:
        rows = cur.execute(
            "SELECT id, kind, annotator, verdict, supersedes FROM judgments ORDER BY seq"
        ).fetchall()
    assert (mine.duplicate, again.duplicate, undone.annotator) == (False, True, "ana")
    assert rows == [
        ("bob/c-00000001", "pair", "bob", "left", None),
        ("ana/c-00000001", "pair", "ana", "right", None),
        ("bob/u-00000001", "undo", "bob", None, "bob/c-00000001"),
        ("ana/u-00000001", "undo", "ana", None, "ana/c-00000001"),
    ]


def test_over_rest_client_ids_squatted_by_a_colleague_still_work(served: RestDesk) -> None:
    with served.client("bob") as bob, served.client("ana") as ana:
        bobs = bob.get("/pairs/next").json()["pair"]
        assert bob.post("/judgments", json=judgment_body(bobs, client_id="c-00000001")).status_code == 201
        assert bob.post("/undo", json={"client_id": "u-00000001"}).status_code == 200
        anas = ana.get("/pairs/next").json()["pair"]
        body = judgment_body(anas, "right", client_id="c-00000001")
        first, retry = ana.post("/judgments", json=body), ana.post("/judgments", json=body)
        undone = ana.post("/undo", json={"client_id": "u-00000001"})
    assert (first.status_code, retry.status_code, undone.status_code) == (201, 200, 200)
    assert first.json()["id"] == retry.json()["id"] == undone.json()["id"] == "ana/c-00000001"
    assert retry.json()["duplicate"] is True


# --- 5. A rate limit per annotator -------------------------------------------------------------


def test_repeated_undos_are_rate_limited_with_retry_after(served: RestDesk) -> None:
    """Each undo reads and writes under the store's write lock: a script repeating them would
    stall everyone's judgments. The default: 5 a second, bursts of 20, per annotator."""
    statuses: list[int] = []
    limited: list[Any] = []
    with served.client("ana") as ana:
        started = time.monotonic()
        for n in range(100):
            answer = ana.post("/undo", json={"client_id": f"undo-flood-{n:04d}"})
            statuses.append(answer.status_code)
            if answer.status_code == 429 and not limited:
                limited.append(answer)
        elapsed = time.monotonic() - started
        with served.client("bob") as bob:  # another annotator is not held back
            assert bob.post("/undo", json={"client_id": uuid.uuid4().hex}).status_code == 409
    answered = [s for s in statuses if s != 429]
    assert set(answered) == {409}  # nothing to undo: each answered, under the lock
    assert len(answered) <= 20 + math.ceil(5 * elapsed) + 1
    assert len(answered) >= 20  # the burst
    assert limited, statuses
    first = limited[0]
    assert first.headers["retry-after"] == "1"
    assert first.json()["error"] == (
        "too many judgments at once: at most 5 a second (bursts of 20) per annotator; nothing was "
        "recorded: send it again in 1 s"
    )


def test_judgments_over_the_rate_are_refused_and_not_recorded(tmp_path: Path) -> None:
    from apps.server import ServeOptions, serve
    from labeling import tokens, users
    from labeling.ratelimit import JudgingRate

    store = open_store(tmp_path / "desk.duckdb")
    import_files(store, [write_jsonl(tmp_path / "s.jsonl", support_records(6))], dataset="s")
    users.add_user(store, "ana", "annotator", PASSWORD, utc_now)
    token = tokens.create_token(store, "ana", "t", utc_now)[0]
    options = ServeOptions(port=free_port(), judging_rate=JudgingRate(per_second=0.1, burst=3))
    server = serve(store, options, block=False)
    assert server is not None
    desk = RestDesk(server.local_url, store, tmp_path, {"ana": token})
    try:
        with desk.client("ana") as ana:
            answers = []
            for _ in range(5):
                shown = ana.get("/pairs/next").json()["pair"]
                answers.append(ana.post("/judgments", json=judgment_body(shown)))
            retried = ana.post("/judgments", json=json.loads(answers[0].request.read()))
        rows = desk.judgment_rows()
    finally:
        server.close()
        store.close()
    assert [a.status_code for a in answers] == [201, 201, 201, 429, 429]
    assert len(rows) == 3
    assert retried.status_code == 200  # a retry of one recorded costs nothing
    assert 1 <= int(answers[3].headers["retry-after"]) <= 10
    assert (
        answers[3]
        .json()["error"]
        .startswith(
            "too many judgments at once: at most 0.1 a second (bursts of 3) per annotator; nothing was recorded"
        )
    )


def test_the_rate_refills_at_its_pace() -> None:
    from labeling.ratelimit import JudgingRate, RateBuckets

    now = [100.0]
    buckets = RateBuckets(JudgingRate(per_second=2, burst=3), clock=lambda: now[0])
    for _ in range(3):
        buckets.take("ana")
    with pytest.raises(JudgmentError) as refused:
        buckets.take("ana")
    assert refused.value.retry_after == pytest.approx(0.5)  # type: ignore[attr-defined]
    buckets.take("bob")  # each annotator has their own
    now[0] += 0.5
    buckets.take("ana")  # one back after half a second at 2 a second
    with pytest.raises(JudgmentError):
        buckets.take("ana")
    now[0] += 60
    for _ in range(3):  # never more than the burst, however long the pause
        buckets.take("ana")
    with pytest.raises(JudgmentError):
        buckets.take("ana")
