"""Importing items and responses: validate every record first, then store all or nothing.

    report = import_files(store, [Path("emails.jsonl")], dataset="support")
    report.items_added, report.pairs_added

Ids are stable, so importing the same file twice adds nothing: an item is
`<dataset>/<id>` (or `<dataset>/<prompt hash>` when the record has no id), a response is a hash
of its item, model and content, a pair a hash of its two responses. A record for an item that
is already stored with the same prompt adds only the responses and pairs that are new.

Well-formed files of the common shapes take a fast path (labeling/ingest_fast.py) that stores
the same rows; anything else, and every problem to report, goes through the general path here.

An import may also set the dataset's wording (labeling/wording.py): `wording={"question": ...}`,
given as flags, and a file's dataset header (labeling/ingest_readers.py); flags win over the
header. It is written in the import's transaction: with the rows, or not at all.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from labeling import wording as dataset_wording
from labeling.clock import utc_now
from labeling.errors import ImportRejected, Problem
from labeling.ingest_fast import FastChunk, FastPlanner, NotFast
from labeling.ingest_formats import (
    FORMATS,
    PARSERS,
    Candidate,
    CandidateResponse,
    FieldProblem,
    SkipRecord,
    detect_format,
)
from labeling.ingest_ids import pair_id_for, pair_metadata, short_hash
from labeling.ingest_readers import (
    HEADER_KEY,
    SUPPORTED_SUFFIXES,
    DatasetHeader,
    Located,
    csv_columns,
    jsonl_objects,
    location_unit,
    read_records,
)
from labeling.models import DATASET_NAME_PATTERN, ImportLimits, Wording, json_text, messages_to_json
from labeling.perf import gc_paused
from store import catalog
from store.db import Cursor, Store, Tx

MAX_PROBLEMS = 20
DEFAULT_LIMITS = ImportLimits()
_DATASET_NAME = re.compile(DATASET_NAME_PATTERN)
_CSV_COLUMNS = {"pairs": ("prompt", "response_a", "response_b"), "trl": ("chosen", "rejected")}


__all__ = [
    "ImportLimits",
    "ImportReport",
    "import_files",
    "import_records",
    "pair_id_for",
    "short_hash",
    "utc_now",
]


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


def _pairs_of(responses: int) -> int:
    return responses * (responses - 1) // 2


@dataclass
class _PlannedItem:
    row: list[Any]
    prompt_hash: str
    first_location: Problem  # where the item first appeared, for messages about it
    all_combinations: bool
    responses: list[tuple[str, CandidateResponse]] = field(default_factory=list)
    contents: dict[str, str] = field(default_factory=dict)
    explicit_pairs: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


class _Problems:
    def __init__(self) -> None:
        self.found: list[Problem] = []
        self.more = 0

    def add(self, problem: Problem) -> None:
        if len(self.found) < MAX_PROBLEMS:
            self.found.append(problem)
        else:
            self.more += 1

    def raise_if_any(self) -> None:
        if self.found:
            raise ImportRejected(self.found, self.more)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_paths(paths: Sequence[Path], problems: _Problems) -> None:
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


def _csv_format(path: Path, requested: str, problems: _Problems) -> str | None:
    columns = csv_columns(path)
    fmt = requested
    if fmt == "auto":
        fmt = detect_format(dict.fromkeys(columns)) or "pairs"
    if fmt not in _CSV_COLUMNS:
        problems.add(
            Problem(
                str(path), 1, None, f"the {fmt} format has nested fields: use JSONL, JSON or Parquet, not CSV"
            )
        )
        return None
    missing = [name for name in _CSV_COLUMNS[fmt] if name not in columns]
    if missing:
        problems.add(
            Problem(
                str(path),
                1,
                None,
                f"missing column {', '.join(repr(m) for m in missing)} for the {fmt} format "
                f"(columns: {', '.join(columns) or 'none'})",
            )
        )
        return None
    return fmt


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
                digest.update(orjson.dumps(record, option=orjson.OPT_SORT_KEYS))
            except TypeError as exc:
                located.append(
                    (number, Problem(name, number, None, f"cannot be stored as JSON: {exc}", "record"))
                )
                continue
            located.append((number, record))
        hexdigest = digest.hexdigest()
        return cls(name, "record", lambda: located, lambda: hexdigest)

    def fast_records(self, headers: _Headers) -> Iterator[dict[str, Any]]:
        """The records for the fast path; NotFast at the first one that cannot be read. A dataset
        header goes to `headers` (NotFast if it has a problem)."""
        if self.path is not None and self.path.suffix.lower() in (".jsonl", ".ndjson"):
            for value in jsonl_objects(self.path):
                if value is None:
                    raise NotFast
                if isinstance(value, DatasetHeader):
                    if not headers.add(value):
                        raise NotFast
                    continue
                yield value
            return
        for _, record in self.records():
            if isinstance(record, Problem):
                raise NotFast
            if isinstance(record, DatasetHeader):
                if not headers.add(record):
                    raise NotFast
                continue
            yield record


class _Headers:
    """The dataset headers of an import's files, checked; they must agree with each other."""

    def __init__(self) -> None:
        self.change: dict[str, str | None] | None = None
        self.first_source = ""

    def add(self, header: DatasetHeader, problems: _Problems | None = None) -> bool:
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


def _refuse(problems: _Problems | None, problem: Problem) -> bool:
    if problems is not None:
        problems.add(problem)
    return False


def _read_candidates(
    src: _Source, requested: str, problems: _Problems, report: ImportReport, headers: _Headers
) -> Iterable[tuple[Candidate, Problem]]:
    """Valid candidates of one source with their location (a Problem without a message); every
    invalid record goes to `problems`."""
    source, unit = src.name, src.unit
    fmt: str | None = requested
    if src.path is not None and src.path.suffix.lower() == ".csv":
        fmt = _csv_format(src.path, requested, problems)
        if fmt is None:
            return
    records = 0
    for number, record in src.records():
        if isinstance(record, Problem):
            problems.add(record)
            continue
        if isinstance(record, DatasetHeader):
            headers.add(record, problems)
            continue
        records += 1
        if fmt == "auto":
            fmt = detect_format(record)
            if fmt is None:
                problems.add(
                    Problem(
                        source,
                        number,
                        None,
                        "cannot tell the format: expected a 'responses', 'response_a', 'chosen' or "
                        "'conversation_a' field (or pass --format)",
                        unit,
                    )
                )
                return
        location = Problem(source, number, None, "", unit)
        try:
            candidate = PARSERS[str(fmt)](record)
        except FieldProblem as exc:
            problems.add(Problem(source, number, exc.field, exc.message, unit))
            continue
        except SkipRecord as exc:
            _count(report.skipped, str(exc))
            continue
        yield candidate, location
    report.records += records
    report.sources.append({"path": source, "sha256": src.sha256(), "records": records, "format": fmt})


def _plan(
    sources: Sequence[_Source],
    fmt: str,
    dataset: str,
    problems: _Problems,
    report: ImportReport,
    headers: _Headers,
    limits: ImportLimits,
) -> dict[str, _PlannedItem]:
    planned: dict[str, _PlannedItem] = {}
    first_seen: dict[str, tuple[Candidate, Problem]] = {}
    for src in sources:
        for candidate, where in _read_candidates(src, fmt, problems, report, headers):
            prompt_json = messages_to_json(candidate.prompt)
            prompt_hash = short_hash(prompt_json)
            item_id = f"{dataset}/{candidate.source_id or prompt_hash}"
            if candidate.source_id is not None:
                seen = first_seen.get(item_id)
                if seen is None:
                    first_seen[item_id] = (candidate, where)
                elif seen[0] == candidate:
                    report.duplicate_records += 1
                    continue
                else:
                    problems.add(
                        Problem(
                            where.source,
                            where.line,
                            "id",
                            f"duplicate id {candidate.source_id!r} with different content "
                            f"(first seen at {seen[1].source}:{seen[1].line})",
                            where.unit,
                        )
                    )
                    continue
            item = planned.get(item_id)
            if item is None:
                item = planned[item_id] = _PlannedItem(
                    row=[
                        item_id,
                        dataset,
                        candidate.source_id,
                        prompt_json,
                        prompt_hash,
                        candidate.group_key or item_id,
                        json_text(candidate.metadata) if candidate.metadata else "{}",
                    ],
                    prompt_hash=prompt_hash,
                    first_location=where,
                    all_combinations=candidate.pairs is None,
                )
            elif item.prompt_hash != prompt_hash:
                problems.add(
                    Problem(
                        where.source,
                        where.line,
                        "prompt",
                        "differs from the first record with this id",
                        where.unit,
                    )
                )
                continue
            ids = []
            for response in candidate.responses:
                response_id = f"r_{short_hash(item_id, response.model, response.content)}"
                ids.append(response_id)
                if response_id not in item.contents:
                    item.contents[response_id] = response.content
                    item.responses.append((response_id, response))
            if candidate.pairs is None:
                item.all_combinations = True
                if len(item.responses) > limits.max_responses_per_item:  # every two make a pair
                    problems.add(_too_many_responses(where, item_id, len(item.responses), limits))
            else:
                for x, y in candidate.pairs:
                    item.explicit_pairs.append((ids[x], ids[y], candidate.pair_metadata))
    return planned


def _too_many_responses(where: Problem, item_id: str, count: int, limits: ImportLimits) -> Problem:
    return Problem(
        where.source,
        where.line,
        "responses",
        f"item {item_id!r} would have {count} responses, {_pairs_of(count):,} pairs to judge; at most "
        f"{limits.max_responses_per_item} responses per item (import fewer, or raise the cap with "
        "--max-responses)",
        where.unit,
    )


def _too_many_pairs(source: str, count: int, limits: ImportLimits) -> ImportRejected:
    return ImportRejected(
        [
            Problem(
                source,
                None,
                None,
                f"this import would add {count:,} pairs to judge; at most {limits.max_pairs:,} per import "
                "(split the file, or raise the cap with --max-pairs)",
            )
        ]
    )


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
    problems = _Problems()
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
    flags = _checked_flags(wording)
    set_by = f"import {', '.join(src.name for src in sources)}"[:200]
    with gc_paused():
        try:
            return _import_fast(
                store,
                sources,
                fmt=fmt,
                dataset=dataset,
                now=now,
                wording=_WordingPlan(flags, _Headers(), set_by),
                limits=limits,
            )
        except NotFast:
            pass  # the general path below finds and words what the fast path would not decide
        problems = _Problems()
        report = ImportReport(dataset=dataset, sources=[])
        plan = _WordingPlan(flags, _Headers(), set_by)
        planned = _plan(sources, fmt, dataset, problems, report, plan.headers, limits)
        problems.raise_if_any()
        if not planned:
            raise ImportRejected([Problem(sources[0].name, None, None, "no records found")])
        _store_new(store, planned, problems, report, fmt, now, plan, limits)
    return report


def _import_fast(
    store: Store,
    sources: Sequence[_Source],
    *,
    fmt: str,
    dataset: str,
    now: Callable[[], datetime],
    wording: _WordingPlan,
    limits: ImportLimits,
) -> ImportReport:
    """Well-formed records of the common shapes (labeling/ingest_fast.py). The responses (most
    of the bytes) are stored chunk by chunk: DuckDB inserts one chunk, without the GIL, on the
    other core while the next is read and hashed. Items and pairs are stored at the end, once no
    record can make the import fall back: their sequences would keep numbers a rollback freed.
    NotFast (all rolled back) when the general path must run."""
    planner = FastPlanner(dataset)
    report = ImportReport(dataset=dataset, sources=[])
    import_id = str(uuid.uuid4())
    stamp: list[datetime] = []  # now(), once, when there is a first row to store
    new_items: list[pa.Table] = []
    new_pairs: list[pa.Table] = []

    def when() -> datetime:
        if not stamp:
            stamp.append(now())
        return stamp[0]

    def store_responses(cur: Cursor, chunk: FastChunk) -> None:
        items, responses, pairs, stored = _new_in_chunk(cur, chunk)
        report.items_already_stored += stored
        new_items.append(items)
        new_pairs.append(pairs)
        if responses.num_rows:
            catalog.insert_rows(cur, import_id=import_id, now=when(), responses=responses)
            report.responses_added += responses.num_rows

    def import_unit(tx: Tx) -> None:
        cur = tx.cur
        with ThreadPoolExecutor(max_workers=1) as hashing:
            digests = [hashing.submit(src.sha256) for src in sources]  # overlaps reading the files
            reads = [(_fast_format(src, fmt), src.fast_records(wording.headers)) for src in sources]
            with ThreadPoolExecutor(max_workers=1) as writer:  # leaving it waits for the chunk in hand
                stored: Future[None] | None = None
                for chunk in planner.chunks(reads):
                    if stored is not None:
                        stored.result()  # one chunk stored at a time, the next one planned meanwhile
                    stored = writer.submit(store_responses, cur, chunk)
                if stored is not None:
                    stored.result()
            # One chunk each: DuckDB scans several Arrow chunks on several threads, and the
            # sequence numbers (the order pairs are served in) would then not follow the file.
            items = pa.concat_tables(new_items).combine_chunks()
            pairs = pa.concat_tables(new_pairs).combine_chunks()
            report.items_added, report.pairs_added = items.num_rows, pairs.num_rows
            if pairs.num_rows > limits.max_pairs:  # everything stored so far is rolled back
                raise _too_many_pairs(", ".join(src.name for src in sources), pairs.num_rows, limits)
            if items.num_rows or pairs.num_rows:
                catalog.insert_rows(cur, import_id=import_id, now=when(), items=items, pairs=pairs)
            report.sources = [
                {"path": src.name, "sha256": digest.result(), "records": read.records, "format": read.format}
                for src, digest, read in zip(sources, digests, planner.sources, strict=True)
            ]
            report.records = sum(read.records for read in planner.sources)
            wording.apply(cur, report, when)
            if report.added_anything:
                catalog.insert_import_record(
                    cur,
                    import_id=import_id,
                    dataset=dataset,
                    format_name=fmt,
                    sources=report.sources,
                    added=(report.items_added, report.responses_added, report.pairs_added),
                    now=when(),
                )

    store.write(import_unit)
    return report


def _fast_format(src: _Source, requested: str) -> str:
    if src.path is None or src.path.suffix.lower() != ".csv":
        return requested
    fmt = _csv_format(src.path, requested, _Problems())
    if fmt is None:
        raise NotFast
    return fmt


def _new_in_chunk(cur: Cursor, chunk: FastChunk) -> tuple[pa.Table, pa.Table, pa.Table, int]:
    """A chunk's rows that are not stored yet, and how many of its items are."""
    stored = catalog.prompt_hashes(cur, chunk.item_ids)
    if not stored:
        return chunk.items, chunk.responses, chunk.pairs, 0
    for item_id, prompt_hash, every_combination in zip(
        chunk.item_ids, chunk.prompt_hashes, chunk.every_combination, strict=True
    ):
        known = stored.get(item_id)
        # Another prompt is a problem to word; new responses of a stored `responses` item are
        # paired with its stored ones: both are the general path's work.
        if known is not None and (known != prompt_hash or every_combination):
            raise NotFast
    return (
        _without(chunk.items, pa.array(list(stored), type=pa.string())),
        _without(chunk.responses, catalog.stored_response_ids(cur, list(stored))),
        _without(chunk.pairs, catalog.stored_pair_ids_among(cur, chunk.pairs.column("id"))),
        len(stored),
    )


def _without(table: pa.Table, ids: pa.Array) -> pa.Table:
    return table.filter(pc.invert(pc.is_in(table.column("id"), value_set=ids)))


def _store_new(
    store: Store,
    planned: dict[str, _PlannedItem],
    problems: _Problems,
    report: ImportReport,
    fmt: str,
    now: Callable[[], datetime],
    wording: _WordingPlan,
    limits: ImportLimits,
) -> None:
    def import_unit(tx: Tx) -> None:
        cur = tx.cur
        stored_hashes = catalog.prompt_hashes(cur, list(planned))
        for item_id, item in planned.items():
            stored = stored_hashes.get(item_id)
            if stored is not None and stored != item.prompt_hash:
                where = item.first_location
                problems.add(
                    Problem(
                        where.source,
                        where.line,
                        "prompt",
                        f"item {item_id!r} is already stored with a different prompt "
                        "(use another id or --dataset)",
                        where.unit,
                    )
                )
        problems.raise_if_any()
        stored_responses = catalog.responses_of(cur, list(stored_hashes))
        for item_id, stored_of_item in stored_responses.items():  # new responses to stored items
            item = planned[item_id]
            count = len({response_id for response_id, _ in stored_of_item} | set(item.contents))
            if item.all_combinations and count > limits.max_responses_per_item:
                problems.add(_too_many_responses(item.first_location, item_id, count, limits))
        problems.raise_if_any()
        item_rows, response_rows, pair_rows = _new_rows(planned, set(stored_hashes), stored_responses, report)
        if stored_hashes:
            already = catalog.stored_pair_ids(cur, [row[0] for row in pair_rows])
            pair_rows = [row for row in pair_rows if row[0] not in already]
        report.items_already_stored = len(stored_hashes)
        report.items_added = len(item_rows)
        report.responses_added = len(response_rows)
        report.pairs_added = len(pair_rows)
        if len(pair_rows) > limits.max_pairs:
            raise _too_many_pairs(
                ", ".join(sorted(report_source["path"] for report_source in report.sources)),
                len(pair_rows),
                limits,
            )
        wording.apply(cur, report, now)
        if report.added_anything:
            catalog.insert_import(
                cur,
                import_id=str(uuid.uuid4()),
                dataset=report.dataset,
                format_name=fmt,
                sources=report.sources,
                items=item_rows,
                responses=response_rows,
                pairs=pair_rows,
                now=now(),
            )

    store.write(import_unit)


def _new_rows(
    planned: dict[str, _PlannedItem],
    stored_items: set[str],
    stored_responses: dict[str, list[tuple[str, str]]],
    report: ImportReport,
) -> tuple[list[list[Any]], list[list[Any]], list[list[Any]]]:
    """Rows not stored yet. Pairs may still include stored ones: the caller filters those."""
    item_rows: list[list[Any]] = []
    response_rows: list[list[Any]] = []
    pair_rows: list[list[Any]] = []
    for item_id, item in planned.items():
        if item_id not in stored_items:
            item_rows.append(item.row)
        stored = dict(stored_responses.get(item_id, []))
        for response_id, response in item.responses:
            if response_id not in stored:
                response_rows.append(
                    [
                        response_id,
                        item_id,
                        response.model,
                        response.content,
                        json_text(response.metadata) if response.metadata else "{}",
                    ]
                )
        wanted: dict[str, list[Any]] = {}
        if item.all_combinations:
            contents = {**stored, **item.contents}
            for x, y in combinations(contents, 2):
                if contents[x].strip() == contents[y].strip():
                    _count(report.skipped, "identical responses not paired")
                    continue
                pair_id, first, second = pair_id_for(x, y)
                wanted.setdefault(pair_id, [pair_id, item_id, first, second, "{}"])
        for x, y, metadata in item.explicit_pairs:
            pair_id, first, second = pair_id_for(x, y)
            wanted.setdefault(
                pair_id, [pair_id, item_id, first, second, pair_metadata(first, second, x, metadata)]
            )
        pair_rows.extend(wanted.values())
    return item_rows, response_rows, pair_rows


def _count(counter: dict[str, int], reason: str) -> None:
    counter[reason] = counter.get(reason, 0) + 1
