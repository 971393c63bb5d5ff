"""Importing items and responses: validate every record first, then store all or nothing.

    report = import_files(store, [Path("emails.jsonl")], dataset="support")
    report.items_added, report.pairs_added

Ids are stable, so importing the same file twice adds nothing: an item is
`<dataset>/<id>` (or `<dataset>/<prompt hash>` when the record has no id), a response is a hash
of its item, model and content, a pair a hash of its two responses. A record for an item that
is already stored with the same prompt adds only the responses and pairs that are new.

There is one path for every file and every format: the planner (labeling/ingest/planner.py)
checks records a chunk at a time and gives their rows as Arrow tables; items and responses (most
of the bytes) are stored chunk by chunk, by DuckDB without the GIL on the other core while the
next chunk is read; items are stored with provisional numbers and take their numbers (the
serving order) from their sequence at the end, once no record can refuse the import (a sequence
keeps the numbers a rollback frees); pairs, whose order is known only at the end (records merge
into earlier items), are stored then. A problem anywhere refuses the whole import: the
transaction is rolled back and the problems are listed, at most 20, in file order.

An import may also set the dataset's wording (labeling/wording.py): `wording={"question": ...}`,
given as flags, and a file's dataset header (labeling/ingest/readers.py); flags win over the
header. It is written in the import's transaction: with the rows, or not at all.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from labeling import wording as dataset_wording
from labeling.clock import utc_now
from labeling.errors import ImportRejected, Problem
from labeling.ingest.formats import FORMATS
from labeling.ingest.planner import Chunk, Planner, Problems, too_many_responses
from labeling.ingest.readers import (
    HEADER_KEY,
    SUPPORTED_SUFFIXES,
    DatasetHeader,
    Located,
    location_unit,
    read_records,
)
from labeling.models import DATASET_NAME_PATTERN, ImportLimits, Wording
from labeling.perf import gc_paused
from store import catalog
from store.db import Cursor, Store, Tx

DEFAULT_LIMITS = ImportLimits()
# Records sent already parsed (REST) by a parser that takes NaN and Infinity: refused, as the
# file readers refuse them (labeling/ingest/readers.py).
NOT_JSON_NUMBERS = "not valid JSON: NaN and Infinity are not numbers JSON allows"
_DATASET_NAME = re.compile(DATASET_NAME_PATTERN)


@dataclass
class ImportReport:
    dataset: str
    sources: list[dict[str, Any]]
    records: int = 0
    items_added: int = 0
    responses_added: int = 0
    pairs_added: int = 0
    items_already_stored: int = 0
    duplicate_records: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    wording: Wording | None = None  # the dataset's wording, when this import changed it

    @property
    def added_anything(self) -> bool:
        return bool(self.items_added or self.responses_added or self.pairs_added)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_paths(paths: Sequence[Path], problems: Problems) -> None:
    if not paths:
        problems.add(Problem("(no files)", None, None, "give at least one file to import"))
    for path in paths:
        if not path.is_file():
            problems.add(Problem(str(path), None, None, "no such file"))
        elif path.suffix.lower() not in SUPPORTED_SUFFIXES:
            problems.add(
                Problem(
                    str(path),
                    None,
                    None,
                    f"unsupported file type {path.suffix or '(none)'!r}: use {', '.join(SUPPORTED_SUFFIXES)}",
                )
            )
    problems.raise_if_any()


@dataclass(frozen=True)
class _Source:
    """Where records come from: a file, or the records of a request (REST, scripts)."""

    name: str
    unit: str  # what a location number counts: line, row or record
    records: Callable[[], Iterable[Located]]
    sha256: Callable[[], str]
    path: Path | None = None

    @classmethod
    def of_file(cls, path: Path) -> _Source:
        return cls(
            str(path), location_unit(path), lambda: read_records(path), lambda: _file_sha256(path), path
        )

    @classmethod
    def of_records(cls, name: str, records: Sequence[Any]) -> _Source:
        digest = hashlib.sha256()
        located: list[Located] = []
        for number, record in enumerate(records, start=1):
            if not isinstance(record, dict):
                located.append((number, Problem(name, number, None, "expected a JSON object", "record")))
                continue
            try:  # what a file reader would refuse, e.g. integers beyond 64 bits
                data = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
            except TypeError as exc:
                located.append(
                    (number, Problem(name, number, None, f"cannot be stored as JSON: {exc}", "record"))
                )
                continue
            if b"null" in data and _non_finite(record):  # orjson writes NaN and Infinity as null
                located.append((number, Problem(name, number, None, NOT_JSON_NUMBERS, "record")))
                continue
            digest.update(data)
            located.append((number, record))
        hexdigest = digest.hexdigest()
        return cls(name, "record", lambda: located, lambda: hexdigest)


def _non_finite(value: Any) -> bool:
    """Whether NaN or Infinity is anywhere in a parsed JSON value."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_non_finite(item) for item in value)
    return False


class _Headers:
    """The dataset headers of an import's files, checked; they must agree with each other."""

    def __init__(self) -> None:
        self.change: dict[str, str | None] | None = None
        self.first_source = ""

    def add(self, header: DatasetHeader, problems: Problems | None = None) -> bool:
        """Take a header; False (and the problem in `problems`, if given) when it cannot be used."""
        where = (header.source, header.line)
        if not isinstance(header.fields, dict):
            type_name = "a list" if isinstance(header.fields, list) else type(header.fields).__name__
            return _refuse(problems, Problem(*where, HEADER_KEY, f"must be an object, got {type_name}"))
        change: dict[str, str | None] = {}
        usable = True
        for name, value in header.fields.items():  # field by field: every problem is listed
            try:
                change |= dataset_wording.checked({name: value})
            except dataset_wording.WordingProblem as exc:
                usable = _refuse(problems, Problem(*where, f"{HEADER_KEY}.{exc.field}", exc.message))
        if not usable:
            return False
        if self.change is not None and change != self.change:
            return _refuse(
                problems,
                Problem(*where, HEADER_KEY, f"differs from the dataset header of {self.first_source}"),
            )
        self.change, self.first_source = change, header.source
        return True


def _refuse(problems: Problems | None, problem: Problem) -> bool:
    if problems is not None:
        problems.add(problem)
    return False


def import_files(
    store: Store,
    paths: Sequence[Path],
    *,
    fmt: str = "auto",
    dataset: str | None = None,
    now: Callable[[], datetime] = utc_now,
    wording: dataset_wording.WordingChange | None = None,
    limits: ImportLimits = DEFAULT_LIMITS,
) -> ImportReport:
    """Validate every record of every file, then store the new ones in one transaction.
    `wording` (e.g. {"question": ...}) sets the dataset's wording, over any file's header."""
    problems = Problems()
    _check_paths(paths, problems)
    sources = [_Source.of_file(path) for path in paths]
    return _import(
        store, sources, fmt=fmt, dataset=dataset or paths[0].stem, now=now, wording=wording, limits=limits
    )


def import_records(
    store: Store,
    records: Sequence[Any],
    *,
    dataset: str,
    fmt: str = "auto",
    source: str = "request",
    now: Callable[[], datetime] = utc_now,
    wording: dataset_wording.WordingChange | None = None,
    limits: ImportLimits = DEFAULT_LIMITS,
) -> ImportReport:
    """The same as import_files for records already parsed (a REST request, a script): the same
    checks and messages, locations given as `source (record N)`."""
    return _import(
        store,
        [_Source.of_records(source, records)],
        fmt=fmt,
        dataset=dataset,
        now=now,
        wording=wording,
        limits=limits,
    )


def _checked_flags(wording: dataset_wording.WordingChange | None) -> dict[str, str | None]:
    try:
        return dataset_wording.checked(wording or {})
    except dataset_wording.WordingProblem as exc:
        raise ImportRejected([Problem(f"--{exc.field.replace('_', '-')}", None, None, exc.message)]) from None


@dataclass(frozen=True)
class _WordingPlan:
    """The wording an import sets: its files' headers, then its flags over them."""

    flags: dict[str, str | None]
    headers: _Headers
    set_by: str

    def apply(self, cur: Cursor, report: ImportReport, now: Callable[[], datetime]) -> None:
        change = {**(self.headers.change or {}), **self.flags}
        if change:
            report.wording = dataset_wording.apply_change(
                cur, report.dataset, change, set_by=self.set_by, now=now
            )


def _import(
    store: Store,
    sources: Sequence[_Source],
    *,
    fmt: str,
    dataset: str,
    now: Callable[[], datetime],
    wording: dataset_wording.WordingChange | None = None,
    limits: ImportLimits = DEFAULT_LIMITS,
) -> ImportReport:
    if fmt != "auto" and fmt not in FORMATS:
        raise ImportRejected(
            [Problem("--format", None, None, f"unknown format {fmt!r} (use auto, {', '.join(FORMATS)})")]
        )
    if not _DATASET_NAME.match(dataset):
        raise ImportRejected(
            [
                Problem(
                    "--dataset",
                    None,
                    None,
                    f"{dataset!r} is not a valid dataset name (letters, digits, . _ -)",
                )
            ]
        )
    plan = _WordingPlan(
        _checked_flags(wording), _Headers(), f"import {', '.join(src.name for src in sources)}"[:200]
    )
    with gc_paused():
        return _Import(store, sources, fmt, dataset, now, plan, limits).run()


class _Import:
    """One import in one transaction: the planner's chunks go in as they come (responses at
    once, items and pairs at the end), checked against what the store holds already."""

    def __init__(
        self,
        store: Store,
        sources: Sequence[_Source],
        fmt: str,
        dataset: str,
        now: Callable[[], datetime],
        wording: _WordingPlan,
        limits: ImportLimits,
    ) -> None:
        self.store, self.sources, self.fmt, self.wording, self.limits = store, sources, fmt, wording, limits
        self.planner = Planner(dataset, limits)
        self.report = ImportReport(dataset=dataset, sources=[])
        self.import_id = str(uuid.uuid4())
        self.now = now
        self._stamp: list[datetime] = []
        self.stored_problems = Problems()  # items stored with another prompt
        self.stored_items: dict[str, int] = {}  # item id -> rank, of items stored before
        self.stored_responses: set[str] = set()  # this import's responses stored before
        self.pairs: list[pa.Table] = []

    def when(self) -> datetime:
        """The import's time: now(), once, when there is a first row to store."""
        if not self._stamp:
            self._stamp.append(self.now())
        return self._stamp[0]

    def run(self) -> ImportReport:
        """All of it in one unit of the store's writer: it lands whole or not at all."""
        self.store.write(self._import)
        return self.report

    def _import(self, tx: Tx) -> None:
        with catalog.bulk_writing(tx.cur):
            self._import_rows(tx.cur)

    def _import_rows(self, cur: Cursor) -> None:
        report, planner = self.report, self.planner
        with ThreadPoolExecutor(max_workers=1) as writer:
            stored: Future[None] | None = None
            for chunk in planner.chunks(self.sources, self.fmt, self.wording.headers, report):
                if stored is not None:
                    stored.result()  # one chunk stored at a time, the next one planned meanwhile
                stored = writer.submit(self._store_chunk, cur, chunk)
            if stored is not None:
                stored.result()
            planner.problems.raise_if_any()
            self.stored_problems.raise_if_any()
            if not planner.item_index:
                raise ImportRejected([Problem(self.sources[0].name, None, None, "no records found")])
            self._check_stored_growth(cur)
            pairs = self._pairs(cur)
            report.items_already_stored = len(self.stored_items)
            report.pairs_added = pairs.num_rows
            if pairs.num_rows > self.limits.max_pairs:  # everything stored so far is rolled back
                raise ImportRejected(
                    [
                        Problem(
                            ", ".join(src.name for src in self.sources),
                            None,
                            None,
                            f"this import would add {pairs.num_rows:,} pairs to judge; at most "
                            f"{self.limits.max_pairs:,} per import "
                            "(split the file, or raise the cap with --max-pairs)",
                        )
                    ]
                )
            catalog.number_items(cur, self.import_id, report.items_added)
            # One chunk: DuckDB scans several Arrow chunks on several threads, and the sequence
            # numbers (the order pairs are served in) would then not follow the file.
            if pairs.num_rows:
                catalog.insert_rows(cur, import_id=self.import_id, now=self.when(), pairs=pairs)
            self.wording.apply(cur, report, self.when)
            if report.added_anything:
                catalog.insert_import_record(
                    cur,
                    import_id=self.import_id,
                    dataset=report.dataset,
                    format_name=self.fmt,
                    sources=report.sources,
                    added=(report.items_added, report.responses_added, report.pairs_added),
                    now=self.when(),
                )

    def _store_chunk(self, cur: Cursor, chunk: Chunk) -> None:
        """Store a chunk's new items and responses; keep its new pairs for the end."""
        items, responses, pairs = chunk.items, chunk.responses, chunk.pairs
        found = catalog.prompt_hashes(cur, chunk.item_ids) if chunk.item_ids else {}
        if found:
            hashes = items.column("prompt_hash").to_pylist()
            for item_id, rank, prompt_hash in zip(chunk.item_ids, chunk.item_ranks, hashes, strict=True):
                known = found.get(item_id)
                if known is None:
                    continue
                self.stored_items[item_id] = rank
                if known != prompt_hash:
                    where = self.planner.item_where(rank)
                    self.stored_problems.add(
                        Problem(
                            where.source,
                            where.line,
                            "prompt",
                            f"item {item_id!r} is already stored with a different prompt "
                            "(use another id or --dataset)",
                            where.unit,
                        )
                    )
                elif rank in self.planner.every:
                    self.planner.regrow.add(rank)  # its new responses are paired with the stored ones
            items = _without(items, pa.array(list(found), pa.string()))
        if self.stored_items and responses.num_rows:
            touched = pc.unique(responses.column("item_id")).to_pylist()
            stored_of = [item_id for item_id in touched if item_id in self.stored_items]
            if stored_of:
                already = catalog.stored_response_ids(cur, stored_of)
                self.stored_responses.update(already.to_pylist())
                responses = _without(responses, already)
                pairs = _without(pairs, catalog.stored_pair_ids_among(cur, pairs.column("id")))
        self.pairs.append(pairs)
        if self.planner.problems.found or self.stored_problems.found:
            return  # the import is refused: nothing more is stored
        report = self.report
        if items.num_rows:
            numbers = catalog.provisional_numbers(items.num_rows, report.items_added)
            catalog.insert_rows(
                cur, import_id=self.import_id, now=self.when(), items=items.append_column("seq", numbers)
            )
            report.items_added += items.num_rows
        if responses.num_rows:
            catalog.insert_rows(cur, import_id=self.import_id, now=self.when(), responses=responses)
            report.responses_added += responses.num_rows

    def _check_stored_growth(self, cur: Cursor) -> None:
        """An item stored before whose responses are all paired stays under the cap, counting
        the responses it has."""
        problems = Problems()
        growing = [
            (item_id, rank) for item_id, rank in self.stored_items.items() if rank in self.planner.every
        ]
        if not growing:
            return
        stored = catalog.responses_of(cur, [item_id for item_id, _ in growing])
        for item_id, rank in growing:
            count = len(stored.get(item_id, []))
            if count > self.limits.max_responses_per_item:
                where = self.planner.item_where(rank)
                problems.add(too_many_responses(where, item_id, count, self.limits))
        problems.raise_if_any()

    def _pairs(self, cur: Cursor) -> pa.Table:
        """This import's new pairs, in first-seen item order (an item's pairs together)."""
        planner = self.planner
        pairs = pa.concat_tables(self.pairs) if self.pairs else None
        if planner.regrow:
            regrown = planner.regrown_pairs(
                lambda item_ids: catalog.responses_of(cur, item_ids),
                self.stored_responses,
                self.report.skipped,
            )
            stored_items = [
                planner.item_id(rank) for rank in planner.regrow if planner.item_id(rank) in self.stored_items
            ]
            if stored_items:
                regrown = _without(regrown, catalog.stored_pair_ids_among(cur, regrown.column("id")))
            ranks = pa.array(sorted(planner.regrow), pa.int64())
            kept = pairs.filter(pc.invert(pc.is_in(pairs.column("rank"), value_set=ranks))) if pairs else None
            pairs = pa.concat_tables([kept, regrown]) if kept is not None else regrown
        assert pairs is not None
        if planner.merged or planner.regrow:
            pairs = pairs.take(pc.sort_indices(pairs, sort_keys=[("rank", "ascending")]))
        return pairs.drop_columns(["rank"]).combine_chunks()


def _without(table: pa.Table, ids: pa.Array) -> pa.Table:
    return table.filter(pc.invert(pc.is_in(table.column("id"), value_set=ids)))
