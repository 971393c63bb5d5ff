"""The store's one writer: every write on one thread, group commit of judgments, a bad unit
never taking another's judgment with it, engine errors as the store's own, and commits told."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from labeling.desk import Desk, ShownPair
from labeling.errors import PairFullyJudged
from labeling.judgments import new_pair_judgment, submit_pair_judgment
from labeling.models import PairJudgment
from labeling.queue import PairIndex, QueuePolicy
from store.db import Store, Tx, open_store
from store.errors import DuplicateId, StoreError
from store.writer import Committed, JudgmentChange
from tests.conftest import support_records, write_jsonl


class Gate:
    """A unit that holds the writer until released: what is submitted meanwhile waits together."""

    def __init__(self, store: Store) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.future = store.submit(self._hold)

    def _hold(self, tx: Tx) -> None:
        self.entered.set()
        assert self.release.wait(30)

    def __enter__(self) -> Gate:
        assert self.entered.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.future.result(timeout=30)


def showings(desk: Desk, *annotators: str) -> list[ShownPair]:
    shown = []
    for name in annotators:
        showing = desk.next_showing(name)
        assert showing is not None
        shown.append(ShownPair.of(showing))
    return shown


def judgment_of(desk: Desk, annotator: str, shown: ShownPair, client_id: str) -> PairJudgment:
    return new_pair_judgment(
        desk.store,
        client_id=client_id,
        annotator=annotator,
        pair_id=shown.pair_id,
        left_id=shown.left_id,
        right_id=shown.right_id,
        verdict="left",
        now=desk.now,
    )


def count(store: Store, sql: str) -> int:
    with store.cursor() as cur:
        row = cur.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_judgments_waiting_together_are_committed_together_each_answered_after_it(
    seeded_store: Store,
) -> None:
    desk = Desk(seeded_store)
    names = [f"a{n}" for n in range(6)]
    shown = showings(desk, *names)
    before = seeded_store.commits
    with Gate(seeded_store):
        futures = [
            submit_pair_judgment(seeded_store, judgment_of(desk, name, s, f"client-{name}"))
            for name, s in zip(names, shown, strict=True)
        ]
        assert not any(future.done() for future in futures)  # nobody is answered before the commit
    recorded = [future.result(timeout=30) for future in futures]
    assert seeded_store.commits - before == 2  # the gate's unit, then one commit for all six
    assert all(r.seq is not None and not r.duplicate for r in recorded)
    assert count(seeded_store, "SELECT count(*) FROM judgments WHERE kind = 'pair'") == 6


def test_one_refused_unit_in_a_group_leaves_the_others_committed(seeded_store: Store) -> None:
    desk = Desk(seeded_store)
    ana, bob = showings(desk, "ana", "bob")

    def refuses(tx: Tx) -> None:
        raise ValueError("not this one")

    def breaks_the_engine(tx: Tx) -> None:  # a write the engine refuses: the transaction aborts
        tx.cur.execute("INSERT INTO prefdesk_schema VALUES (1, 'again', now()::TIMESTAMP)")

    with Gate(seeded_store):
        first = submit_pair_judgment(seeded_store, judgment_of(desk, "ana", ana, "client-ana"))
        refused = seeded_store.submit(refuses, batch=True)
        broken = seeded_store.submit(breaks_the_engine, batch=True)
        last = submit_pair_judgment(seeded_store, judgment_of(desk, "bob", bob, "client-bob"))
    assert first.result(timeout=30).seq is not None and last.result(timeout=30).seq is not None
    with pytest.raises(ValueError, match="not this one"):
        refused.result(timeout=30)
    with pytest.raises(DuplicateId, match="already holds a row with that id"):
        broken.result(timeout=30)
    assert count(seeded_store, "SELECT count(*) FROM judgments WHERE kind = 'pair'") == 2
    assert count(seeded_store, "SELECT count(*) FROM prefdesk_schema WHERE name = 'again'") == 0


def test_a_failed_unit_stores_nothing_and_says_why_as_a_store_error(seeded_store: Store) -> None:
    def half_then_engine_error(tx: Tx) -> None:
        tx.cur.execute(
            "INSERT INTO users (name, role, password_hash, created_at) "
            "VALUES ('zed', 'annotator', 'x', now()::TIMESTAMP)"
        )
        tx.cur.execute("SELECT * FROM no_such_table")

    with pytest.raises(StoreError, match="(?s)refused a write: .*no_such_table.*nothing was written"):
        seeded_store.write(half_then_engine_error)
    assert count(seeded_store, "SELECT count(*) FROM users") == 0


def test_an_overlap_counts_the_judgments_of_the_same_group(seeded_store: Store) -> None:
    """Two people judging one pair in one group commit, overlap 1: the second is refused."""
    desk = Desk(seeded_store, policy=QueuePolicy(overlap=1))
    (ana,) = showings(desk, "ana")
    index = desk.index
    with Gate(seeded_store):
        futures: list[Future[object]] = []
        for name in ("ana", "bob"):
            judgment = judgment_of(desk, name, ana, f"client-{name}")
            admit = lambda j, tx, name=name: index.admit(name, j.pair_id, tx.judged)  # noqa: E731
            futures.append(submit_pair_judgment(seeded_store, judgment, admit))  # type: ignore[arg-type]
    assert futures[0].result(timeout=30)
    with pytest.raises(PairFullyJudged):
        futures[1].result(timeout=30)
    assert count(seeded_store, "SELECT count(*) FROM judgments") == 1


def test_listeners_hear_each_commit_and_what_it_judged(seeded_store: Store) -> None:
    desk = Desk(seeded_store)
    heard: list[Committed] = []
    seeded_store.listen(heard.append)
    (shown,) = showings(desk, "ana")
    recorded = desk.submit("ana", shown, "left")
    desk.undo("ana")
    seeded_store.write(lambda tx: tx.cur.execute("SELECT 1"))
    assert recorded.seq is not None
    assert heard[0] == Committed((JudgmentChange(recorded.seq, "ana", shown.pair_id, +1),), everything=False)
    assert heard[1].judged[0].change == -1 and heard[1].judged[0].pair_id == shown.pair_id
    assert heard[2] == Committed((), everything=True)


def test_the_index_applies_what_it_is_told_without_reading_the_log(seeded_store: Store) -> None:
    index = PairIndex(seeded_store)
    index.sync()
    desk = Desk(seeded_store)
    (shown,) = showings(desk, "ana")
    desk.submit("ana", shown, "left")
    assert not index.must_read_store()  # told, not stale
    reads: list[int] = []
    original = index._read_store
    index._read_store = lambda: (reads.append(1), original())[1]  # type: ignore[method-assign]
    assert index.progress("ana").judged == 1
    assert reads == []


def test_only_a_read_of_the_store_sends_callers_off_the_event_loop(seeded_store: Store) -> None:
    index = PairIndex(seeded_store)
    index.sync()
    with index._sync_lock:  # what any sync holds for a moment, the writer's admit among them
        assert not index.must_read_store()
    reading, release = threading.Event(), threading.Event()
    original = index._read_store

    def slow_read() -> None:
        reading.set()
        release.wait(10)
        original()

    index._read_store = slow_read  # type: ignore[method-assign]
    seeded_store.write(lambda tx: tx.cur.execute("SELECT 1"))  # not judgments: the index reads again
    assert index.must_read_store()  # from the commit on, until the read is done
    assert reading.wait(10)  # the index's own catch-up thread reads
    assert index.must_read_store()
    release.set()
    deadline = time.monotonic() + 10
    while index.must_read_store() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not index.must_read_store()


def test_a_write_on_the_servers_event_loop_is_refused_not_waited_on(seeded_store: Store) -> None:
    async def on_the_loop() -> None:
        seeded_store.refuse_waiting_on(asyncio.get_running_loop())
        with pytest.raises(RuntimeError, match="would block it"):
            seeded_store.write(lambda tx: None)
        assert await asyncio.wrap_future(seeded_store.submit(lambda tx: 7)) == 7

    # On a thread of its own: pytest-playwright may run a loop on this one.
    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(on_the_loop())
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert failures == []


class ReadCursorSpy:
    """A read cursor (Store.cursor) that notes every statement that would change the store."""

    WRITES = ("INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "COPY")

    def __init__(self, cursor: Any, seen: list[str]) -> None:
        self._cursor, self._seen = cursor, seen

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.lstrip().upper().startswith(self.WRITES):
            self._seen.append(sql.strip()[:60])
        return self._cursor.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class ConnectionSpy:
    def __init__(self, connection: Any, seen: list[str]) -> None:
        self._connection, self._seen = connection, seen

    def cursor(self) -> ReadCursorSpy:
        return ReadCursorSpy(self._connection.cursor(), self._seen)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def test_no_write_goes_through_a_read_cursor(tmp_path: Path) -> None:
    """Import, judge, undo, add a user and a token, export: every write statement runs in a unit
    of the writer, none on the cursors readers get (which is what a write that bypassed the
    writer would use)."""
    from exports.options import ExportOptions
    from exports.run import run_export
    from labeling import tokens, users
    from labeling.clock import utc_now
    from labeling.ingest import import_files

    store = open_store(tmp_path / "s.duckdb")
    seen: list[str] = []
    store._connection = ConnectionSpy(store._connection, seen)  # type: ignore[assignment]
    heard: list[Committed] = []
    store.listen(heard.append)
    import_files(store, [write_jsonl(tmp_path / "s.jsonl", support_records(3))], dataset="support")
    desk = Desk(store)
    for name in ("ana", "bob"):
        (shown,) = showings(desk, name)
        desk.submit(name, shown, "left")
    desk.undo("bob")
    users.add_user(store, "cy", "annotator", "a-long-password", utc_now)
    tokens.create_token(store, "cy", "t", utc_now)
    run_export(store, tmp_path / "out", kind="dpo", target="trl", options=ExportOptions(), now=utc_now)
    assert seen == []
    assert len(heard) == 7  # import, two judgments, the undo, the user, the token, the export's record
    with store.cursor() as cur:  # and the spy does see a write sent past the writer
        cur.execute("UPDATE users SET role = 'admin' WHERE name = 'nobody'")
    assert seen == ["UPDATE users SET role = 'admin' WHERE name = 'nobody'"]
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.write(lambda tx: None)


def test_a_retry_in_the_same_group_is_answered_with_the_stored_judgment(seeded_store: Store) -> None:
    """The same client id twice in one group commit (a double submit): the engine refuses the
    second insert, the group runs again one by one, and the retry is answered as recorded; the
    same id for another verdict is a conflict. Nothing is stored twice."""
    from labeling.errors import IdempotencyConflict

    desk = Desk(seeded_store)
    (shown,) = showings(desk, "ana")
    (other,) = showings(desk, "bob")
    judgment = judgment_of(desk, "ana", shown, "client-twice")
    other_verdict = new_pair_judgment(
        seeded_store,
        client_id="client-twice",
        annotator="ana",
        pair_id=shown.pair_id,
        left_id=shown.left_id,
        right_id=shown.right_id,
        verdict="right",
        now=desk.now,
    )
    with Gate(seeded_store):
        first = submit_pair_judgment(seeded_store, judgment)
        again = submit_pair_judgment(seeded_store, judgment)
        conflicting = submit_pair_judgment(seeded_store, other_verdict)
        bobs = submit_pair_judgment(seeded_store, judgment_of(desk, "bob", other, "client-bob"))
    assert first.result(timeout=30).duplicate is False
    retried = again.result(timeout=30)
    assert retried.duplicate is True and retried.judgment.id == "ana/client-twice"
    with pytest.raises(IdempotencyConflict, match="already used for a different judgment"):
        conflicting.result(timeout=30)
    assert bobs.result(timeout=30).seq is not None
    assert count(seeded_store, "SELECT count(*) FROM judgments") == 2
