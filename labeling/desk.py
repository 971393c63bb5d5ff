"""The desk's use cases in one object, so that every edge (Gradio, CLI, later REST) calls the
same code with the same clock and randomness.

    desk = Desk(open_store("desk.duckdb"))
    showing = desk.next_showing("ana")
    desk.submit("ana", ShownPair.of(showing), "left", rationale="cites the policy")
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from labeling import judgments, queue
from labeling.ingest import utc_now
from labeling.judgments import Recorded
from labeling.models import PairJudgment, Progress, Showing
from labeling.queue import PairIndex, QueuePolicy
from labeling.wording import WordingBook
from store import events
from store.db import Store


@dataclass(frozen=True)
class ShownPair:
    """The ids of a showing: all an edge has to keep (e.g. in gr.State) to submit or re-show it,
    and the item's caption, so that a message about the pair can say which one it was once the
    screen has moved on (without reading the item again)."""

    showing_id: str
    pair_id: str
    left_id: str
    right_id: str
    shown_at: datetime
    item_id: str = ""
    caption: str = ""

    @classmethod
    def of(cls, showing: Showing) -> ShownPair:
        return cls(
            showing.showing_id,
            showing.pair.id,
            showing.left.id,
            showing.right.id,
            showing.shown_at,
            showing.item.id,
            showing.item.caption,
        )


@dataclass
class Desk:
    store: Store
    now: Callable[[], datetime] = utc_now
    rng: random.Random = field(default_factory=random.Random)
    policy: QueuePolicy = field(default_factory=QueuePolicy)
    index: PairIndex = field(init=False)
    wordings: WordingBook = field(init=False)

    def __post_init__(self) -> None:
        self.index = PairIndex(self.store, self.policy)
        self.wordings = WordingBook(self.store)

    def next_showing(self, annotator: str) -> Showing | None:
        """The next pair for `annotator`, sides shuffled, with its dataset's wording; None when done."""
        showing = queue.next_showing(self.store, self.index, annotator, rng=self.rng, now=self.now)
        return None if showing is None else self._worded(showing)

    def show_again(self, judgment: PairJudgment) -> Showing:
        self.index.hold(judgment.annotator, judgment.pair_id)
        showing = queue.show_again(
            self.store, judgment.pair_id, judgment.left_id, judgment.right_id, now=self.now
        )
        return self._worded(showing)

    def _worded(self, showing: Showing) -> Showing:
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
        """Record a verdict on a showing; by default the showing's id is the idempotency key."""
        generation = self.store.generation
        recorded = judgments.record_pair_judgment(
            self.store,
            judgment_id=judgment_id or shown.showing_id,
            annotator=annotator,
            pair_id=shown.pair_id,
            left_id=shown.left_id,
            right_id=shown.right_id,
            verdict=verdict,
            rationale=rationale,
            strength=strength,
            shown_at=shown.shown_at,
            now=self.now,
            known_pair=self.index.pair(shown.pair_id),
        )
        if recorded.seq is not None:
            self.index.record_own(annotator, shown.pair_id, recorded.seq, generation)
        return recorded

    def events(self, after_seq: int, limit: int, annotator: str | None = None) -> list[dict[str, Any]]:
        """The judgment log after a sequence number, oldest first (of one annotator, if given)."""
        with self.store.cursor() as cur:
            return events.events_after(cur, after_seq, limit, annotator)

    def is_recorded(self, judgment_id: str) -> bool:
        return judgments.is_recorded(self.store, judgment_id)

    def undo(self, annotator: str, undo_id: str | None = None) -> PairJudgment:
        return judgments.undo_last(
            self.store, annotator=annotator, undo_id=undo_id or uuid.uuid4().hex, now=self.now
        )
