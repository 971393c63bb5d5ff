"""A dataset's wording: the question the Compare screen asks and the labels of a prompt's turns.

Set at import (flags, or the file's dataset header), or later:

    set_wording(store, "legal", {"question": "Which answer is more accurate?"}, set_by="cli", now=utc_now)
    book = WordingBook(store); book.of("legal").question   # "Which answer is more accurate?"

A change names only the fields it sets; an empty string puts a field back to the neutral default.
Each change is a new row (store/datasets.py): the latest row is the wording, earlier ones say
what annotators were asked before.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from labeling.errors import BadUserInput
from labeling.models import NEUTRAL_WORDING, WORDING_FIELDS, DatasetInfo, Wording
from store import datasets
from store.db import Cursor, Store, Tx
from store.writer import Committed

MAX_LENGTH = {"question": 200, "user_label": 40, "assistant_label": 40, "system_label": 40}
WordingChange = Mapping[str, str | None]  # field -> new text, "" for the default, None to keep


class WordingProblem(ValueError):
    """One field of a wording change that cannot be used, and why."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def checked(change: Mapping[str, object]) -> dict[str, str | None]:
    """A wording change with every field checked: known, text, one line, not too long.
    Surrounding spaces are dropped; "" stays "" (back to the default).

    >>> checked({"question": "  Which reply is kinder? "})
    {'question': 'Which reply is kinder?'}
    >>> checked({"user_label": "Customer\\n"}), checked({"user_label": ""})
    ({'user_label': 'Customer'}, {'user_label': ''})
    >>> checked({"user_label": "Cus\\ntomer"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    labeling.wording.WordingProblem: user_label: must be one line of plain text (no line breaks or ...)
    """
    result: dict[str, str | None] = {}
    for name, value in change.items():
        if name not in WORDING_FIELDS:
            raise WordingProblem(name, f"unknown field (use {', '.join(WORDING_FIELDS)})")
        if value is None:
            continue
        if not isinstance(value, str):
            raise WordingProblem(name, f"must be a string, got {type(value).__name__}")
        text = value.strip()
        if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in text):
            raise WordingProblem(
                name, "must be one line of plain text (no line breaks or control characters)"
            )
        if len(text) > MAX_LENGTH[name]:
            raise WordingProblem(name, f"is {len(text)} characters long (at most {MAX_LENGTH[name]})")
        if value and not text:
            raise WordingProblem(name, 'is blank (use "" to go back to the default)')
        result[name] = text
    return result


def merged(before: Mapping[str, str | None], change: Mapping[str, str | None]) -> dict[str, str | None]:
    """The chosen fields after a checked change: "" means the default again (None).

    >>> merged({"question": "Q?", "user_label": "Customer"}, {"user_label": ""})
    {'question': 'Q?', 'user_label': None, 'assistant_label': None, 'system_label': None}
    """
    after = {name: before.get(name) for name in WORDING_FIELDS}
    for name, value in change.items():
        if value is not None:
            after[name] = value or None
    return after


def apply_change(
    cur: Cursor,
    dataset: str,
    change: Mapping[str, str | None],
    *,
    set_by: str,
    now: Callable[[], datetime],
) -> Wording | None:
    """Write a checked change inside the caller's transaction; the new wording, or None when
    it changes nothing (no row is written then: importing a file again adds no history)."""
    before = datasets.latest_wordings(cur).get(dataset, {})
    after = merged(before, change)
    if after == merged(before, {}):
        return None
    datasets.insert_wording(cur, dataset, after, set_by=set_by, now=now())
    return Wording.of(after)


def set_wording(
    store: Store,
    dataset: str,
    change: Mapping[str, object],
    *,
    set_by: str,
    now: Callable[[], datetime],
) -> Wording:
    """Change a stored dataset's wording (`prefdesk datasets set`); BadUserInput names the flag."""
    try:
        good = checked(change)
    except WordingProblem as exc:
        raise BadUserInput(f"--{exc.field.replace('_', '-')}: {exc.message}") from None
    if not any(value is not None for value in good.values()):
        raise BadUserInput(
            "nothing to set: give --question, --user-label, --assistant-label or --system-label"
        )

    def change_wording(tx: Tx) -> Wording:
        if not datasets.dataset_exists(tx.cur, dataset):
            known = [info.name for info in datasets.dataset_infos(tx.cur)]
            raise BadUserInput(
                f"no dataset {dataset!r} in this store (datasets: {', '.join(known) or 'none yet'})"
            )
        apply_change(tx.cur, dataset, good, set_by=set_by, now=now)
        return Wording.of(datasets.latest_wordings(tx.cur).get(dataset, {}))

    return store.write(change_wording)


def list_datasets(store: Store) -> list[DatasetInfo]:
    with store.cursor() as cur:
        return datasets.dataset_infos(cur)


@dataclass
class WordingBook:
    """Every dataset's wording, read once and again only after the store changed: it is looked
    up for every pair shown, and wording changes only with imports and `datasets set`, never with a
    judgment (the store's writer says which commits were judgments only)."""

    store: Store
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _stale: bool = field(default=True, init=False)
    _wordings: dict[str, Wording] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.store.listen(self._committed)

    def _committed(self, news: Committed) -> None:
        if news.everything:  # judgments alone change no wording
            self._stale = True

    def of(self, dataset: str) -> Wording:
        if self._stale:
            with self._lock:
                self._stale = False  # first: a change during the read makes it stale again
                with self.store.cursor() as cur:
                    rows = datasets.latest_wordings(cur)
                self._wordings = {name: Wording.of(chosen) for name, chosen in rows.items()}
        return self._wordings.get(dataset, NEUTRAL_WORDING)
