"""Recording judgments: validated, idempotent (keyed by a client id), append-only.

result = record_pair_judgment(store, judgment_id=showing.showing_id, annotator="ana",
                              pair_id=showing.pair.id, left_id=showing.left.id,
                              right_id=showing.right.id, verdict="left", now=utc_now)
result.duplicate   # True when this id was already stored: nothing new was written
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import duckdb

from labeling.errors import IdempotencyConflict, JudgmentError, NothingToUndo, StaleShowing
from labeling.models import JudgmentKind, Pair, PairJudgment, PairVerdict
from store import catalog
from store import judgments as log
from store.db import Store

MAX_RATIONALE = 5000
STRENGTHS = (1, 2, 3)  # how much better the preferred response is: slightly, clearly, much
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")


@dataclass(frozen=True)
class Recorded:
    judgment: PairJudgment
    duplicate: bool
    seq: int | None = None  # the log's sequence number, when this call wrote it


def _check_client_id(value: str) -> None:
    if not _CLIENT_ID.match(value or ""):
        raise JudgmentError(
            "a judgment needs a client id of 8-64 letters, digits or _ . : - (a UUID is ideal)"
        )


def _same(a: PairJudgment, b: PairJudgment) -> bool:
    def key(j: PairJudgment) -> tuple[object, ...]:
        return (j.annotator, j.pair_id, j.left_id, j.right_id, j.verdict, j.rationale, j.strength)

    return key(a) == key(b)


def record_pair_judgment(
    store: Store,
    *,
    judgment_id: str,
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
) -> Recorded:
    """Store one pair judgment; the same `judgment_id` again stores nothing new. `known_pair`
    (from the queue's index) saves looking the pair up."""
    _check_client_id(judgment_id)
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
    pair = known_pair if known_pair is not None and known_pair.id == pair_id else None
    if pair is None:
        with store.cursor() as cur:
            pair = catalog.get_pair(cur, pair_id)
    if pair is None:
        raise StaleShowing(f"no pair {pair_id!r}: it may have been removed; load the next pair")
    if {left_id, right_id} != {pair.response_a_id, pair.response_b_id}:
        raise StaleShowing(f"the responses shown are not the two responses of pair {pair_id!r}")
    judgment = PairJudgment(
        id=judgment_id,
        annotator=annotator,
        item_id=pair.item_id,
        pair_id=pair.id,
        left_id=left_id,
        right_id=right_id,
        verdict=parsed,
        rationale=rationale,
        shown_at=shown_at,
        submitted_at=now(),
        strength=strength,
    )
    return _append(store, judgment)


def _append(store: Store, judgment: PairJudgment) -> Recorded:
    try:
        with store.write() as cur:  # one statement, committed on its own
            seq = log.insert_pair_judgment(cur, judgment)
    except (duckdb.ConstraintException, duckdb.TransactionException):
        # This client id is stored already (a retry, a double submit): the stored one stands.
        existing = _stored_twin(store, judgment)
        if existing is None:
            raise
        return existing
    return Recorded(judgment, duplicate=False, seq=seq)


def _stored_twin(store: Store, judgment: PairJudgment) -> Recorded | None:
    with store.cursor() as cur:
        event = log.get_event(cur, judgment.id)
        stored = log.get_pair_judgment(cur, judgment.id) if event else None
    if event is None:
        return None
    if stored is None or not _same(stored, judgment):
        raise IdempotencyConflict(
            f"client id {judgment.id!r} was already used for a different judgment; use a new id"
        )
    return Recorded(stored, duplicate=True)


def is_recorded(store: Store, judgment_id: str) -> bool:
    with store.cursor() as cur:
        return log.get_event(cur, judgment_id) is not None


def undo_last(store: Store, *, annotator: str, undo_id: str, now: Callable[[], datetime]) -> PairJudgment:
    """Withdraw the annotator's latest judgment in force (a new `undo` event); returns it."""
    _check_client_id(undo_id)
    with store.cursor() as cur:
        event = log.get_event(cur, undo_id)
        if event is not None:
            if event.kind != JudgmentKind.UNDO.value or event.annotator != annotator:
                raise IdempotencyConflict(f"client id {undo_id!r} was already used for something else")
            undone = log.get_pair_judgment(cur, event.supersedes or "")
            assert undone is not None
            return undone
        last = log.last_current_judgment(cur, annotator)
    if last is None:
        raise NothingToUndo("there is no judgment of yours left to undo")
    with store.transaction() as cur:
        log.insert_undo(cur, undo_id=undo_id, annotator=annotator, undone=last, now=now())
    return last
