"""Recording judgments: validated, idempotent (keyed by a client id), append-only.

result = record_pair_judgment(store, client_id=showing.showing_id, annotator="ana",
                              pair_id=showing.pair.id, left_id=showing.left.id,
                              right_id=showing.right.id, verdict="left", now=utc_now)
result.judgment.id   # "ana/<client id>": client ids are each annotator's own
result.duplicate     # True when this client id was already stored: nothing new was written

Client ids are per annotator: the stored id is `annotator/client_id` (neither a user name nor a
client id has a "/"), so the same client id from two people is two judgments, and nobody can
take a colleague's ids first. Rows stored before that (migration 0007) keep their bare ids; a
retry of one of them by its own annotator is still recognised.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labeling.errors import IdempotencyConflict, JudgmentError, NothingToUndo, StaleShowing
from labeling.models import (
    CLIENT_ID_PATTERN,
    MAX_RATIONALE,
    STRENGTHS,
    JudgmentKind,
    Pair,
    PairJudgment,
    PairVerdict,
)
from store import catalog
from store import judgments as log
from store.db import Cursor, Store, Tx
from store.errors import DuplicateId
from store.writer import JudgmentChange

_CLIENT_ID = re.compile(CLIENT_ID_PATTERN)

# Called on the writer thread just before a judgment is appended, with the transaction (whose
# `judged` holds the judgments of the same group commit): raises to refuse it (the overlap
# quota), so that checking and writing cannot be interleaved with another write.
Admit = Callable[[PairJudgment, Tx], None]


@dataclass(frozen=True)
class Recorded:
    judgment: PairJudgment
    duplicate: bool
    seq: int | None = None  # the log's sequence number, when this call wrote it


def check_client_id(value: str) -> None:
    if not _CLIENT_ID.match(value or ""):
        raise JudgmentError(
            "a judgment needs a client id of 8-64 letters, digits or _ . : - (a UUID is ideal)"
        )


def stored_id(annotator: str, client_id: str) -> str:
    """The id a client id is stored under: each annotator's ids are their own.

    >>> stored_id("ana", "0b6c8a7e")
    'ana/0b6c8a7e'
    """
    return f"{annotator}/{client_id}"


def _same(a: PairJudgment, b: PairJudgment) -> bool:
    def key(j: PairJudgment) -> tuple[object, ...]:
        return (j.annotator, j.pair_id, j.left_id, j.right_id, j.verdict, j.rationale, j.strength)

    return key(a) == key(b)


@dataclass(frozen=True)
class _Checked:
    verdict: PairVerdict
    rationale: str
    strength: int | None


def _checked(client_id: str, verdict: str, rationale: str, strength: int | None) -> _Checked:
    check_client_id(client_id)
    try:
        parsed = PairVerdict(verdict)
    except ValueError:
        raise JudgmentError(f"unknown verdict {verdict!r} (use left, right, tie or both_bad)") from None
    rationale = (rationale or "").strip()
    if len(rationale) > MAX_RATIONALE:
        raise JudgmentError(
            f"the rationale is too long ({len(rationale)} characters, at most {MAX_RATIONALE})"
        )
    if strength is not None and (
        parsed not in (PairVerdict.LEFT, PairVerdict.RIGHT) or strength not in STRENGTHS
    ):
        raise JudgmentError("strength is 1, 2 or 3, and only for a left or right verdict")
    return _Checked(parsed, rationale, strength)


def record_pair_judgment(store: Store, *, admit: Admit | None = None, **fields: Any) -> Recorded:
    """Store one pair judgment (the fields of new_pair_judgment) and wait for its commit; the
    same `client_id` from the same annotator again stores nothing new. `admit` may refuse the
    judgment on the writer thread."""
    return submit_pair_judgment(store, new_pair_judgment(store, **fields), admit).result()


def new_pair_judgment(
    store: Store,
    *,
    client_id: str,
    annotator: str,
    pair_id: str,
    left_id: str,
    right_id: str,
    verdict: str,
    rationale: str = "",
    strength: int | None = None,
    shown_at: datetime | None = None,
    now: Callable[[], datetime],
    known_pair: Pair | None = None,
) -> PairJudgment:
    """A judgment checked and ready to store (JudgmentError, StaleShowing otherwise)."""
    checked = _checked(client_id, verdict, rationale, strength)
    pair = known_pair if known_pair is not None and known_pair.id == pair_id else None
    if pair is None:
        with store.cursor() as cur:
            pair = catalog.get_pair(cur, pair_id)
    # The messages name no pair id: a stored pair id is a hash of its responses' (blind.py).
    if pair is None:
        raise StaleShowing("the pair shown is no longer stored: nothing was recorded; load the next pair")
    if {left_id, right_id} != {pair.response_a_id, pair.response_b_id}:
        raise StaleShowing(
            f"the responses sent are not the two responses of the pair of item {pair.item_id!r}"
        )
    return PairJudgment(
        id=stored_id(annotator, client_id),
        annotator=annotator,
        item_id=pair.item_id,
        pair_id=pair.id,
        left_id=left_id,
        right_id=right_id,
        verdict=checked.verdict,
        rationale=checked.rationale,
        shown_at=shown_at,
        submitted_at=now(),
        strength=checked.strength,
    )


def submit_pair_judgment(
    store: Store, judgment: PairJudgment, admit: Admit | None = None
) -> Future[Recorded]:
    """Queue `judgment` for the store's writer (group commit); the future is done once it is
    committed, or holds why it was refused (nothing stored)."""

    def append(tx: Tx) -> Recorded:
        try:
            if admit is not None:
                admit(judgment, tx)
        except JudgmentError:
            existing = _stored_twin(tx.cur, judgment)  # a retry of a judgment the quota now counts
            if existing is None:
                raise
            return existing
        seq = log.insert_pair_judgment(tx.cur, judgment)  # a stored id: DuplicateId, below
        tx.note(JudgmentChange(seq, judgment.annotator, judgment.pair_id, +1))
        return Recorded(judgment, duplicate=False, seq=seq)

    committed = store.submit(append, batch=True, one_write=True)
    answer: Future[Recorded] = Future()

    def answer_a_retry(done: Future[Recorded]) -> None:
        """This client id is stored already (a retry, a double submit): the stored one stands,
        if it is this judgment."""
        error = done.exception()
        if not isinstance(error, DuplicateId):
            _copy(done, answer)
            return
        try:
            with store.cursor() as cur:
                existing = _stored_twin(cur, judgment)
        except BaseException as exc:
            answer.set_exception(exc)
            return
        if existing is None:
            answer.set_exception(error)
        else:
            answer.set_result(existing)

    committed.add_done_callback(answer_a_retry)
    return answer


def _copy(source: Future[Recorded], target: Future[Recorded]) -> None:
    error = source.exception()
    if error is not None:
        target.set_exception(error)
    else:
        target.set_result(source.result())


def _stored_twin(cur: Cursor, judgment: PairJudgment) -> Recorded | None:
    """The stored event under this judgment's id: the same judgment (a retry) or a conflict."""
    event = log.get_event(cur, judgment.id)
    if event is None:
        return None
    stored = log.get_pair_judgment(cur, judgment.id)
    if stored is None or not _same(stored, judgment):
        client_id = judgment.id.split("/", 1)[1]
        raise IdempotencyConflict(
            f"client id {client_id!r} was already used for a different judgment; use a new id"
        )
    return Recorded(stored, duplicate=True)


def stored_judgment(store: Store, annotator: str, client_id: str) -> PairJudgment | None:
    """The annotator's pair judgment stored under this client id, if any (also one stored before
    client ids were per annotator, under the bare client id)."""
    with store.cursor() as cur:
        found = log.get_pair_judgment(cur, stored_id(annotator, client_id))
        if found is None:
            legacy = log.get_pair_judgment(cur, client_id)
            found = legacy if legacy is not None and legacy.annotator == annotator else None
    return found


def retried(
    store: Store,
    annotator: str,
    client_id: str,
    verdict: str,
    rationale: str,
    strength: int | None,
    *,
    same_pair: Callable[[PairJudgment], bool],
) -> Recorded | None:
    """A submit whose showing this desk no longer knows (it restarted since): the stored judgment
    when it is a retry of one (the same verdict on the same pair and sides), None when nothing is
    stored under that client id; a different judgment under it is a conflict."""
    check_client_id(client_id)
    stored = stored_judgment(store, annotator, client_id)
    if stored is None:
        return None
    if not same_pair(stored):
        raise IdempotencyConflict(
            f"client id {client_id!r} was already used for a different judgment; use a new id"
        )
    return retried_as_stored(stored, client_id, verdict, rationale, strength)


def retried_as_stored(
    stored: PairJudgment, client_id: str, verdict: str, rationale: str, strength: int | None
) -> Recorded:
    """`stored` (of the same pair and sides) as the answer to a retry: the same verdict, rationale
    and strength again, or a conflict."""
    checked = _checked(client_id, verdict, rationale, strength)
    if (stored.verdict, stored.rationale, stored.strength) != (
        checked.verdict,
        checked.rationale,
        checked.strength,
    ):
        raise IdempotencyConflict(
            f"client id {client_id!r} was already used for a different judgment; use a new id"
        )
    return Recorded(stored, duplicate=True)


def is_recorded(store: Store, annotator: str, client_id: str) -> bool:
    return stored_judgment(store, annotator, client_id) is not None


def undo_last(store: Store, *, annotator: str, client_id: str, now: Callable[[], datetime]) -> PairJudgment:
    """Withdraw the annotator's latest judgment in force (a new `undo` event); returns it."""
    return submit_undo(store, annotator=annotator, client_id=client_id, now=now).result()


def submit_undo(
    store: Store, *, annotator: str, client_id: str, now: Callable[[], datetime]
) -> Future[PairJudgment]:
    """Queue the undo of the annotator's latest judgment in force for the writer.

    It reads and writes in one transaction on the writer thread: two undos at once (two tabs,
    two scripts) withdraw two judgments, never one twice; the store also refuses a second event
    superseding one event (migration 0007)."""
    check_client_id(client_id)
    undo_id = stored_id(annotator, client_id)

    def undo(tx: Tx) -> PairJudgment:
        cur = tx.cur
        event = log.get_event(cur, undo_id)
        if event is None:
            legacy = log.get_event(cur, client_id)  # stored before client ids were per annotator
            event = legacy if legacy is not None and legacy.annotator == annotator else None
        if event is not None:
            if event.kind != JudgmentKind.UNDO.value or event.annotator != annotator:
                raise IdempotencyConflict(f"client id {client_id!r} was already used for something else")
            undone = log.get_pair_judgment(cur, event.supersedes or "")
            if undone is None:
                raise IdempotencyConflict(f"client id {client_id!r} was already used for something else")
            return undone
        last = log.last_current_judgment(cur, annotator)
        if last is None:
            raise NothingToUndo("there is no judgment of yours left to undo")
        seq = log.insert_undo(cur, undo_id=undo_id, annotator=annotator, undone=last, now=now())
        tx.note(JudgmentChange(seq, annotator, last.pair_id, -1))
        return last

    return store.submit(undo, batch=True)
