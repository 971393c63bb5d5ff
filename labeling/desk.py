"""The desk's use cases in one object, so that every edge (Gradio, CLI, REST) calls the same code
with the same clock and randomness.

    desk = Desk(open_store("desk.duckdb"))
    showing = desk.next_showing("ana")
    desk.submit("ana", ShownPair.of(showing), "left", rationale="cites the policy")

Judging is blind and honest:
- a judgment names a showing this desk gave its annotator (labeling/showings.py), with that
  showing's pair and sides, and is stored with the time the desk showed it;
- with an overlap, a pair that has its judgments refuses more (PairIndex.admit, under the
  store's write lock);
- edges that show ids to annotators show `blind` aliases (labeling/blind.py) and take them back;
- each annotator records at most `rate` judgments and undos (labeling/ratelimit.py).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from labeling import judgments, queue
from labeling.blind import Blinder
from labeling.clock import utc_now
from labeling.errors import StaleShowing, TooManyJudgments
from labeling.judgments import Recorded
from labeling.models import PairJudgment, Progress, Showing
from labeling.queue import PairIndex, QueuePolicy
from labeling.ratelimit import JudgingRate, RateBuckets
from labeling.showings import ShowingBook, ShownPair
from labeling.wording import WordingBook
from store import events
from store.db import Store
from store.secrets import desk_secret

__all__ = ["Desk", "ShownPair"]


@dataclass(frozen=True)
class BlindClaim:
    """A pair and sides as an annotator names them back: the aliases they were shown."""

    pair_id: str
    left_id: str
    right_id: str


@dataclass
class Desk:
    store: Store
    now: Callable[[], datetime] = utc_now
    rng: random.Random = field(default_factory=random.Random)
    policy: QueuePolicy = field(default_factory=QueuePolicy)
    rate: JudgingRate | None = None  # None: no limit (scripts and tests in one process)
    index: PairIndex = field(init=False)
    wordings: WordingBook = field(init=False)
    blind: Blinder = field(init=False)
    showings: ShowingBook = field(init=False)
    buckets: RateBuckets = field(init=False)

    def __post_init__(self) -> None:
        self.index = PairIndex(self.store, self.policy)
        self.wordings = WordingBook(self.store)
        with self.store.cursor() as cur:
            key = desk_secret(cur, "blinding")
        if key is None:
            raise ValueError(f"the store {self.store.path} has no blinding key: open it for writing once")
        self.blind = Blinder(key)
        self.showings = ShowingBook()
        self.buckets = RateBuckets(self.rate)

    def next_showing(self, annotator: str) -> Showing | None:
        """The next pair for `annotator`, sides shuffled, with its dataset's wording; None when done."""
        showing = queue.next_showing(self.store, self.index, annotator, rng=self.rng, now=self.now)
        return None if showing is None else self._given(annotator, showing)

    def show_again(self, judgment: PairJudgment) -> Showing:
        self.index.hold(judgment.annotator, judgment.pair_id)
        showing = queue.show_again(
            self.store, judgment.pair_id, judgment.left_id, judgment.right_id, now=self.now
        )
        return self._given(judgment.annotator, showing)

    def _given(self, annotator: str, showing: Showing) -> Showing:
        self.showings.give(annotator, ShownPair.of(showing))
        return replace(showing, wording=self.wordings.of(showing.item.dataset))

    def progress(self, annotator: str) -> Progress:
        return self.index.progress(annotator)

    def submit(
        self,
        annotator: str,
        shown: ShownPair,
        verdict: str,
        *,
        rationale: str = "",
        strength: int | None = None,
        judgment_id: str | None = None,
    ) -> Recorded:
        """Record a verdict on a showing this desk gave `annotator`, named by its stored ids (an
        edge in this process keeps them); by default the showing's id is the client id."""

        def same(pair_id: str, left_id: str, right_id: str) -> bool:
            return (pair_id, left_id, right_id) == (shown.pair_id, shown.left_id, shown.right_id)

        return self._submit(
            annotator, shown.showing_id, same, verdict, rationale, strength, judgment_id or shown.showing_id
        )

    def submit_blind(
        self,
        annotator: str,
        showing_id: str,
        claim: BlindClaim,
        verdict: str,
        *,
        client_id: str,
        rationale: str = "",
        strength: int | None = None,
    ) -> Recorded:
        """The same, with the pair and sides named by the aliases the annotator was shown."""
        blind = self.blind

        def same(pair_id: str, left_id: str, right_id: str) -> bool:
            shown_as = (blind.pair(pair_id), blind.response(left_id), blind.response(right_id))
            return shown_as == (claim.pair_id, claim.left_id, claim.right_id)

        return self._submit(annotator, showing_id, same, verdict, rationale, strength, client_id)

    def _submit(
        self,
        annotator: str,
        showing_id: str,
        same: Callable[[str, str, str], bool],
        verdict: str,
        rationale: str,
        strength: int | None,
        client_id: str,
    ) -> Recorded:
        given = self.showings.find(annotator, showing_id)
        if given is None:
            # A retry of a judgment recorded before a restart is answered as recorded; anything
            # else needs a showing of the caller's own.
            retry = judgments.retried(
                self.store,
                annotator,
                client_id,
                verdict,
                rationale,
                strength,
                same_pair=lambda j: same(j.pair_id, j.left_id, j.right_id),
            )
            if retry is not None:
                return retry
            raise StaleShowing(
                f"showing {showing_id!r} is not one this desk gave you (or the desk restarted since): "
                "nothing was recorded; load the next pair and judge it"
            )
        if not same(given.pair_id, given.left_id, given.right_id):
            raise StaleShowing(
                f"the pair and sides sent are not those of showing {showing_id!r} "
                f"(item {given.item_id!r}): nothing was recorded; judge the pair as it was shown"
            )
        try:
            self.buckets.take(annotator)  # a refused one counts too: refusing takes the write lock
        except TooManyJudgments:
            stored = judgments.stored_judgment(self.store, annotator, client_id)
            if stored is None or not same(stored.pair_id, stored.left_id, stored.right_id):
                raise
            return judgments.retried_as_stored(stored, client_id, verdict, rationale, strength)
        generation = self.store.generation
        recorded = judgments.record_pair_judgment(
            self.store,
            client_id=client_id,
            annotator=annotator,
            pair_id=given.pair_id,
            left_id=given.left_id,
            right_id=given.right_id,
            verdict=verdict,
            rationale=rationale,
            strength=strength,
            shown_at=given.shown_at,  # the desk's own time: time on task cannot be made up
            now=self.now,
            known_pair=self.index.pair(given.pair_id),
            admit=lambda judgment: self.index.admit(annotator, judgment.pair_id),
        )
        if recorded.seq is not None:
            self.index.record_own(annotator, given.pair_id, recorded.seq, generation)
        else:
            self.buckets.give_back(annotator)  # a retry: nothing new
        return recorded

    def events(self, after_seq: int, limit: int, annotator: str | None = None) -> list[dict[str, Any]]:
        """The judgment log after a sequence number, oldest first (of one annotator, if given)."""
        with self.store.cursor() as cur:
            return events.events_after(cur, after_seq, limit, annotator)

    def is_recorded(self, annotator: str, client_id: str) -> bool:
        return judgments.is_recorded(self.store, annotator, client_id)

    def undo(self, annotator: str, undo_id: str | None = None) -> PairJudgment:
        """Withdraw the annotator's latest judgment in force. Every undo counts against the rate:
        each one reads and writes under the store's write lock."""
        self.buckets.take(annotator)
        return judgments.undo_last(
            self.store, annotator=annotator, client_id=undo_id or uuid.uuid4().hex, now=self.now
        )
