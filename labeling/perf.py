"""Helpers for bulk work (imports and exports of hundreds of thousands of records)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Building hundreds of thousands of small objects makes the cyclic GC rescan them again and
    again (about half of an import's time); bulk code here creates no cycles, so pause it. Only
    on the main thread of a command: a serving desk runs imports and exports on worker threads,
    and switching the GC off there would switch it off for the whole server meanwhile."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
