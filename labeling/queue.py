"""Which pair an annotator sees next, and in which order its sides are shown.

Assignment, overlap, reservations and active selection will live here; today every annotator
works through every pair, least-judged first, and never gets a pair they have judged.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import datetime

from labeling.errors import StaleShowing
from labeling.models import Pair, Progress, Showing
from store import catalog
from store import judgments as log
from store.db import Store


def _showing(store: Store, pair: Pair, left_id: str, right_id: str, now: datetime) -> Showing:
    with store.cursor() as cur:
        item = catalog.get_item(cur, pair.item_id)
        responses = catalog.get_responses(cur, [left_id, right_id])
    if item is None or left_id not in responses or right_id not in responses:
        raise StaleShowing(f"pair {pair.id} refers to an item or response that is not stored")
    return Showing(
        showing_id=uuid.uuid4().hex,
        pair=pair,
        item=item,
        left=responses[left_id],
        right=responses[right_id],
        shown_at=now,
    )


def next_showing(
    store: Store, annotator: str, *, rng: random.Random, now: Callable[[], datetime]
) -> Showing | None:
    """The next pair for `annotator` with its sides in random order, or None when done."""
    with store.cursor() as cur:
        pair = log.next_unjudged_pair(cur, annotator)
    if pair is None:
        return None
    left, right = pair.response_a_id, pair.response_b_id
    if rng.random() < 0.5:
        left, right = right, left
    return _showing(store, pair, left, right, now())


def show_again(
    store: Store, pair_id: str, left_id: str, right_id: str, *, now: Callable[[], datetime]
) -> Showing:
    """A pair shown with given sides (after an undo, the same sides as before)."""
    with store.cursor() as cur:
        pair = catalog.get_pair(cur, pair_id)
    if pair is None:
        raise StaleShowing(f"no pair {pair_id!r}")
    return _showing(store, pair, left_id, right_id, now())


def progress(store: Store, annotator: str) -> Progress:
    with store.cursor() as cur:
        judged, total = log.annotator_progress(cur, annotator)
    return Progress(judged=judged, total=total)
