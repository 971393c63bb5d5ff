"""Which pair an annotator sees next, and in which order its sides are shown.

The least-judged pair first, then an order of the annotator's own (so two people starting
together see different pairs); never a pair the annotator has a judgment in force on. With an
overlap k, a pair stops being offered once k annotators have judged it. A pair on someone's
screen is held for them (for `hold`): it counts as judged when choosing, and with an overlap it is
not offered past k, so that it is not judged more often than asked.

The index behind this lives in memory, in the one process that owns the store. The store's
writer tells it what each commit wrote (store/writer.py): the judgments of a group commit are
applied as told, and after any other write it reads the log from the last sequence number seen
(store/queue.py), so judgments written by any code path in this process are seen. Holds live
only in memory: a restart frees them, which at worst shows a pair to a second person. The
overlap is also enforced when a judgment is recorded (`admit`, on the store's writer thread): a
pair past k refuses more, so a restart, an expired hold or a hand-made request never gets it
judged more often than asked.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from labeling.errors import PairFullyJudged, StaleShowing
from labeling.models import Pair, Progress, Showing
from labeling.pair_table import PairTable, key64
from store import catalog
from store import queue as log_reader
from store.db import Store
from store.errors import StoreClosed
from store.writer import Committed, JudgmentChange

_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant: scrambles hash ^ annotator key


@dataclass(frozen=True)
class QueuePolicy:
    overlap: int | None = None  # judgments wanted per pair; None: every annotator judges every pair
    hold: timedelta = timedelta(minutes=30)

    def __post_init__(self) -> None:
        if self.overlap is not None and self.overlap < 1:
            raise ValueError("overlap is at least 1 judgment per pair")


@dataclass
class PairIndex:
    """Votes in force per pair, each annotator's judged pairs and the holds, over numpy arrays."""

    store: Store
    policy: QueuePolicy = field(default_factory=QueuePolicy)
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _sync_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _pairs: PairTable = field(default_factory=PairTable, init=False)
    _votes: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32), init=False)
    _held: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32), init=False)
    _live: dict[str, npt.NDArray[np.int16]] = field(default_factory=dict, init=False)
    _holds: dict[str, tuple[int, float]] = field(default_factory=dict, init=False)
    _pairs_seq: int = field(default=0, init=False)
    _log_seq: int = field(default=0, init=False)
    _stale: bool = field(default=True, init=False)  # the store may hold what the index has not read
    _reading: bool = field(default=False, init=False)  # a read of the store is under way
    _news: list[Committed] = field(default_factory=list, init=False)
    _news_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _catching_up: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.store.listen(self._committed)

    def _committed(self, news: Committed) -> None:
        """Told by the store's writer after each commit (on its thread: only noted here). After
        anything but judgments (an import) the index catches up in a thread of its own at once,
        so that the next person to ask does not wait for that read."""
        with self._news_lock:
            self._news.append(news)
        if news.everything and self._catching_up.acquire(blocking=False):
            threading.Thread(target=self._catch_up, name="prefdesk-index", daemon=True).start()

    def _catch_up(self) -> None:
        try:
            self.sync()
        except StoreClosed:
            pass  # nobody will ask any more
        finally:
            self._catching_up.release()

    def sync(self) -> None:
        """Catch up with what was committed since the last call: the judgments the writer told of
        are applied as told; after anything else (an import, a bulk load) the store is read again
        from the last sequence numbers seen."""
        with self._sync_lock:  # one reader at a time, or two could apply the same delta
            with self._news_lock:  # the news taken and a read announced at once: no gap between
                news, self._news = self._news, []
                if self._stale or any(told.everything for told in news):
                    self._stale = True  # until the read succeeds: the news taken are in what it reads
                    self._reading = True
            if self._reading:
                try:
                    self._read_store()
                    self._stale = False
                finally:
                    self._reading = False
            told = [change for batch in news for change in batch.judged if change.seq > self._log_seq]
            if told:
                with self._lock:
                    self._apply_told(told)

    def must_read_store(self) -> bool:
        """Whether the next decision first reads the store (after an import, say), rather than
        only applying what the writer told: callers on an event loop hand that to a thread."""
        # A read of the store announced or under way (the catch-up after an import) is waited for
        # off the loop. Not merely the sync lock held: every sync takes it for a moment (the
        # writer's admit among them), and taking that for a read sent most requests at 32
        # annotators to worker threads.
        with self._news_lock:
            return self._reading or self._stale or any(told.everything for told in self._news)

    def _read_store(self) -> None:
        with self.store.cursor() as cur:
            new_pairs = log_reader.pairs_after(cur, self._pairs_seq)
            first = self._log_seq == 0
            if first:  # the whole log at once, as arrays
                state = log_reader.log_state(cur, new_pairs.last_seq)
            else:
                delta = log_reader.log_after(cur, self._log_seq)
        with self._lock:
            self._add_pairs(new_pairs)
            if first:
                self._load(state)
            else:
                self._apply(delta)

    def _apply_told(self, changes: list[JudgmentChange]) -> None:
        self._apply(
            log_reader.LogDelta(
                [change.annotator for change in changes],
                [change.pair_id for change in changes],
                [change.change for change in changes],
                max(change.seq for change in changes),
            )
        )

    def _add_pairs(self, new: log_reader.NewPairs) -> None:
        grow = new.table.num_rows
        if not grow:
            return
        self._pairs.extend(new.table)
        self._votes = np.concatenate([self._votes, np.zeros(grow, np.int32)])
        self._held = np.concatenate([self._held, np.zeros(grow, np.int32)])
        self._live = {
            name: np.concatenate([live, np.zeros(grow, np.int16)]) for name, live in self._live.items()
        }
        self._pairs_seq = new.last_seq

    def _apply(self, delta: log_reader.LogDelta) -> None:
        for annotator, pair_id, change in zip(delta.annotators, delta.pair_ids, delta.changes, strict=True):
            position = self._pairs.position(pair_id)
            if position is None:  # a judgment on a pair that is no longer stored
                continue
            live = self._live_of(annotator)
            before = live[position]
            live[position] = max(before + change, 0)
            self._votes[position] += int(live[position] > 0) - int(before > 0)
            if change > 0:
                self._release(annotator, position)
        self._log_seq = delta.last_seq

    def _load(self, state: log_reader.LogState) -> None:
        for annotator, (positions, counts) in state.by_annotator.items():
            live = self._live_of(annotator)
            live[positions] = np.maximum(counts, 0)
            self._votes[positions] += (live[positions] > 0).astype(np.int32)
        self._log_seq = state.last_seq

    def _live_of(self, annotator: str) -> npt.NDArray[np.int16]:
        live = self._live.get(annotator)
        if live is None:
            live = self._live[annotator] = np.zeros(len(self._pairs), np.int16)
        return live

    def _release(self, annotator: str, position: int | None = None) -> None:
        hold = self._holds.get(annotator)
        if hold is not None and (position is None or hold[0] == position):
            del self._holds[annotator]
            self._held[hold[0]] -= 1

    def _expire_holds(self) -> None:
        now = self.clock()
        for annotator, (_, until) in list(self._holds.items()):
            if until <= now:
                self._release(annotator)

    def _open_to(self, annotator: str) -> npt.NDArray[np.bool_]:
        """Pairs this annotator may be given now (holds of others counted against the overlap)."""
        mask: npt.NDArray[np.bool_] = self._live_of(annotator) == 0
        if self.policy.overlap is not None:
            mask &= (self._votes + self._held) < self.policy.overlap
        return mask

    def next_pair(self, annotator: str) -> Pair | None:
        self.sync()
        with self._lock:
            self._expire_holds()
            hold = self._holds.get(annotator)
            if hold is not None and self._live_of(annotator)[hold[0]] == 0:
                return self._pairs.pair(hold[0])  # the pair already on this annotator's screen
            self._release(annotator)
            candidates = np.flatnonzero(self._open_to(annotator))
            if candidates.size == 0:
                return None
            # Pairs on someone's screen count as judged: people starting together spread out.
            load = self._votes[candidates] + self._held[candidates]
            least = candidates[load == load.min()]
            personal = (self._pairs.keys[least] ^ np.uint64(key64(annotator))) * _MIX
            position = int(least[int(np.argmin(personal))])
            self._holds[annotator] = (position, self.clock() + self.policy.hold.total_seconds())
            self._held[position] += 1
            return self._pairs.pair(position)

    def admit(self, annotator: str, pair_id: str, pending: Sequence[JudgmentChange] = ()) -> None:
        """Refuse a new judgment of a pair that already has the judgments the overlap asks for,
        from others (PairFullyJudged). The store's writer calls it just before writing, so no
        other judgment can slip in between; `pending` are the changes written before it in the
        same group commit, counted as if committed. A pair the annotator has a judgment in force
        on is theirs to judge again (it adds no vote)."""
        if self.policy.overlap is None:
            return
        self.sync()
        with self._lock:
            position = self._pairs.position(pair_id)
            if position is None:
                return
            live = {
                name: int(self._live_of(name)[position])
                for name in {annotator, *(c.annotator for c in pending)}
            }
            votes = int(self._votes[position])
        for change in pending:
            if change.pair_id == pair_id:
                before = live[change.annotator]
                live[change.annotator] = max(before + change.change, 0)
                votes += int(live[change.annotator] > 0) - int(before > 0)
        if live[annotator] > 0:
            return
        if votes >= self.policy.overlap:
            raise PairFullyJudged(
                f"this pair already has the {self.policy.overlap} judgment(s) asked for (overlap "
                f"{self.policy.overlap}): yours was not recorded; load the next pair"
            )

    def pair(self, pair_id: str) -> Pair | None:
        self.sync()
        with self._lock:
            position = self._pairs.position(pair_id)
            return None if position is None else self._pairs.pair(position)

    def hold(self, annotator: str, pair_id: str) -> None:
        """Hold a pair for an annotator who is shown it again (after an undo)."""
        self.sync()
        with self._lock:
            position = self._pairs.position(pair_id)
            self._release(annotator)
            if position is not None:
                self._holds[annotator] = (position, self.clock() + self.policy.hold.total_seconds())
                self._held[position] += 1

    def judged_pairs(self, annotator: str) -> set[str]:
        """The pairs `annotator` has a judgment in force on."""
        self.sync()
        with self._lock:
            return {self._pairs.id_at(int(position)) for position in np.flatnonzero(self._live_of(annotator))}

    def votes(self, pair_id: str) -> int:
        """How many annotators have a judgment in force on the pair."""
        self.sync()
        with self._lock:
            position = self._pairs.position(pair_id)
            return 0 if position is None else int(self._votes[position])

    def progress(self, annotator: str) -> Progress:
        """Pairs judged by this annotator, out of those plus the ones still open to them."""
        self.sync()
        with self._lock:
            self._expire_holds()
            judged = int(np.count_nonzero(self._live_of(annotator)))
            if self.policy.overlap is None:
                return Progress(judged=judged, total=len(self._pairs))
            open_now = self._open_to(annotator)
            hold = self._holds.get(annotator)
            if hold is not None and self._live_of(annotator)[hold[0]] == 0:
                open_now[hold[0]] = True
            return Progress(judged=judged, total=judged + int(np.count_nonzero(open_now)))


def showing_of(store: Store, pair: Pair, left_id: str, right_id: str, now: datetime) -> Showing:
    with store.cursor() as cur:
        parts = log_reader.showing_parts(cur, pair.item_id, left_id, right_id)
    if parts is None:
        # No stored pair id in a message: annotators read them, and it is a hash of the models' (blind.py).
        raise StaleShowing(
            f"a pair of item {pair.item_id!r} refers to an item or response that is not stored"
        )
    item, left, right = parts
    return Showing(showing_id=uuid.uuid4().hex, pair=pair, item=item, left=left, right=right, shown_at=now)


def next_showing(
    store: Store, index: PairIndex, annotator: str, *, rng: random.Random, now: Callable[[], datetime]
) -> Showing | None:
    """The next pair for `annotator` with its sides in random order, or None when done."""
    pair = index.next_pair(annotator)
    if pair is None:
        return None
    left, right = pair.response_a_id, pair.response_b_id
    if rng.random() < 0.5:
        left, right = right, left
    return showing_of(store, pair, left, right, now())


def show_again(
    store: Store, pair_id: str, left_id: str, right_id: str, *, now: Callable[[], datetime]
) -> Showing:
    """A pair shown with given sides (after an undo, the same sides as before)."""
    with store.cursor() as cur:
        pair = catalog.get_pair(cur, pair_id)
    if pair is None:
        raise StaleShowing("the pair to show again is no longer stored")
    return showing_of(store, pair, left_id, right_id, now())
