"""How fast one annotator may record: a token bucket per annotator.

Each judgment (and each undo) takes a token; tokens come back at `per_second`, up to `burst`.
A person judging by keyboard stays far below the default (5 a second, bursts of 20); a script
flooding the log, or repeating undos (each one a read and a write under the store's write lock),
is told to wait.

    buckets = RateBuckets(JudgingRate(per_second=5, burst=20))
    buckets.take("ana")        # raises TooManyJudgments(retry_after=...) when ana is over
    buckets.give_back("ana")   # a submit that turned out to be a retry: it wrote nothing
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from labeling.errors import TooManyJudgments


@dataclass(frozen=True)
class JudgingRate:
    per_second: float = 5.0  # sustained judgments per second per annotator
    burst: int = 20  # judgments at once, after a pause

    def __post_init__(self) -> None:
        if not (self.per_second > 0 and math.isfinite(self.per_second)) or self.burst < 1:
            raise ValueError("a judging rate is above 0 per second with a burst of at least 1")


@dataclass
class RateBuckets:
    rate: JudgingRate | None  # None: no limit
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict, init=False)  # tokens, at
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def take(self, annotator: str) -> None:
        rate = self.rate
        if rate is None:
            return
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(annotator, (float(rate.burst), now))
            tokens = min(float(rate.burst), tokens + (now - at) * rate.per_second)
            if tokens < 1:
                self._buckets[annotator] = (tokens, now)
                wait = (1 - tokens) / rate.per_second
                raise TooManyJudgments(
                    f"too many judgments at once: at most {rate.per_second:g} a second (bursts of "
                    f"{rate.burst}) per annotator; nothing was recorded: send it again in "
                    f"{math.ceil(wait)} s",
                    retry_after=wait,
                )
            self._buckets[annotator] = (tokens - 1, now)

    def give_back(self, annotator: str) -> None:
        rate = self.rate
        if rate is None:
            return
        with self._lock:
            tokens, at = self._buckets.get(annotator, (float(rate.burst), self.clock()))
            self._buckets[annotator] = (min(float(rate.burst), tokens + 1), at)
