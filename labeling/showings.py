"""The showings a desk has given each annotator: a judgment must name one of them.

A showing is one pair put in front of one annotator with its sides in an order (labeling/queue.py).
Its id is random and the desk remembers, per annotator, the last KEEP showings it gave them: a
submit naming a showing that is not among them (someone else's, a made-up one, one from before the
desk restarted) records nothing. Memory stays bounded: KEEP per annotator, and a flood of requests
for pairs evicts only the flooder's own showings.

    book = ShowingBook()
    book.give("ana", ShownPair.of(showing))
    book.find("ana", showing.showing_id)    # the ShownPair; None for anyone else
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from labeling.models import Showing

KEEP = 64  # showings remembered per annotator: tabs, reloads and retries, many times over


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
class ShowingBook:
    keep: int = KEEP
    _given: dict[str, OrderedDict[str, ShownPair]] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def give(self, annotator: str, shown: ShownPair) -> None:
        with self._lock:
            given = self._given.setdefault(annotator, OrderedDict())
            given[shown.showing_id] = shown
            while len(given) > self.keep:
                given.popitem(last=False)

    def find(self, annotator: str, showing_id: str) -> ShownPair | None:
        with self._lock:
            given = self._given.get(annotator)
            return None if given is None else given.get(showing_id)
