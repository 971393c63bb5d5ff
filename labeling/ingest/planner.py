"""The planner: records in, checked rows out, chunk by chunk, with every problem worded.

    planner = Planner("support", ImportLimits())
    for chunk in planner.chunks(sources, "auto", headers, report):
        chunk.items, chunk.responses, chunk.pairs  # Arrow tables of new rows
    planner.problems.raise_if_any()

Records are read in chunks; each chunk is parsed format by format (labeling/ingest/formats.py),
ids are hashed in flat loops (labeling/ingest/ids.py) and the rows become Arrow tables. Problems
are kept in file order, at most MAX_PROBLEMS worded. What the planner decides across records:

- a record repeating an id: the same content is counted (`duplicate_records`), other content is
  a problem naming where the id was first seen;
- records without an id for one prompt merge into one item (Arena battles of one question): new
  responses and pairs are added, a prompt that differs is a problem;
- an item whose responses are all paired (the `responses` format) is capped at
  `limits.max_responses_per_item`, and when it grows (merged records, or responses already
  stored) its pairs are worked out again at the end (`Planner.regrow`).

Pairs are kept in first-seen item order, an item's pairs together: the store numbers them in
that order, which is the order they are served in.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from labeling.errors import ImportRejected, Problem
from labeling.ingest.formats import PARSERS, Parsed, detect_format
from labeling.ingest.ids import pair_id_for, pair_metadata
from labeling.ingest.readers import DatasetHeader, Located, csv_columns
from labeling.ingest.rules import Batch, FieldProblem, SkipRecord
from labeling.models import ImportLimits

MAX_PROBLEMS = 20
NO_DIGEST = -1  # hash() never gives -1
_LINE_MASK = (1 << 40) - 1
_HEX16 = re.compile(r"[0-9a-f]{16}")
CSV_COLUMNS = {"pairs": ("prompt", "response_a", "response_b"), "trl": ("chosen", "rejected")}


class Problems:
    """Problems in the order they were found; the first MAX_PROBLEMS kept, the rest counted."""

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


class Source(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def path(self) -> Path | None: ...
    @property
    def records(self) -> Callable[[], Iterable[Located]]: ...
    @property
    def sha256(self) -> Callable[[], str]: ...


class Headers(Protocol):
    def add(self, header: DatasetHeader, problems: Problems | None = None) -> bool: ...


class Report(Protocol):
    records: int
    duplicate_records: int
    skipped: dict[str, int]
    sources: list[dict[str, Any]]


@dataclass
class Chunk:
    """New rows of some records (before the store is asked what it holds already)."""

    item_ids: list[str]  # items first seen in this chunk, in order
    item_ranks: list[int]  # their numbers in the import
    items: pa.Table
    responses: pa.Table
    pairs: pa.Table  # with `rank`: the number of the pair's item, for the order at the end


@dataclass
class _Grown:
    """An item that may gain rows from later records: its responses and pairs so far."""

    item_id: str
    responses: dict[str, None] = field(default_factory=dict)  # ids, in first-seen order
    pairs: set[str] = field(default_factory=set)


class _Rows:
    """The rows of one chunk, column by column."""

    def __init__(self) -> None:
        self.item_ids: list[str] = []
        self.item_ranks: list[int] = []
        self.items: dict[str, list[Any]] = {name: [] for name in ("source_id", "prompt", "prompt_hash")}
        self.group_keys: list[str] = []
        self.metadata: list[str] = []
        self.response_ids: list[str] = []
        self.response_items: list[str] = []
        self.models: list[str] = []
        self.contents: list[str] = []
        self.response_metadata: list[str] = []
        self.pair_ids: list[str] = []
        self.pair_items: list[str] = []
        self.pair_ranks: list[int] = []
        self.firsts: list[str] = []
        self.seconds: list[str] = []
        self.pair_metadata: list[str] = []

    def add_pair(self, item_id: str, rank: int, pair: tuple[str, str, str], metadata: str) -> None:
        self.pair_ids.append(pair[0])
        self.pair_items.append(item_id)
        self.pair_ranks.append(rank)
        self.firsts.append(pair[1])
        self.seconds.append(pair[2])
        self.pair_metadata.append(metadata)

    def chunk(self, dataset: str) -> Chunk:
        strings = pa.string()
        items = pa.table(
            {
                "id": pa.array(self.item_ids, strings),
                "dataset": pa.array([dataset] * len(self.item_ids), strings),
                "source_id": pa.array(self.items["source_id"], strings),
                "prompt": pa.array(self.items["prompt"], strings),
                "prompt_hash": pa.array(self.items["prompt_hash"], strings),
                "group_key": pa.array(self.group_keys, strings),
                "metadata": pa.array(self.metadata, strings),
            }
        )
        responses = pa.table(
            {
                "id": pa.array(self.response_ids, strings),
                "item_id": pa.array(self.response_items, strings),
                "model": pa.array(self.models, strings),
                "content": pa.array(self.contents, strings),
                "metadata": pa.array(self.response_metadata, strings),
            }
        )
        return Chunk(self.item_ids, self.item_ranks, items, responses, pairs_table(self))


def pairs_table(rows: _Rows) -> pa.Table:
    strings = pa.string()
    return pa.table(
        {
            "id": pa.array(rows.pair_ids, strings),
            "item_id": pa.array(rows.pair_items, strings),
            "response_a_id": pa.array(rows.firsts, strings),
            "response_b_id": pa.array(rows.seconds, strings),
            "metadata": pa.array(rows.pair_metadata, strings),
            "rank": pa.array(rows.pair_ranks, pa.int64()),
        }
    )


def too_many_responses(where: Problem, item_id: str, count: int, limits: ImportLimits) -> Problem:
    pairs = count * (count - 1) // 2
    return Problem(
        where.source,
        where.line,
        "responses",
        f"item {item_id!r} would have {count} responses, {pairs:,} pairs to judge; at most "
        f"{limits.max_responses_per_item} responses per item (import fewer, or raise the cap with "
        "--max-responses)",
        where.unit,
    )


def csv_format(path: Path, requested: str, problems: Problems) -> str | None:
    columns = csv_columns(path)
    fmt = requested
    if fmt == "auto":
        fmt = detect_format(dict.fromkeys(columns)) or "pairs"
    if fmt not in CSV_COLUMNS:
        problems.add(
            Problem(
                str(path), 1, None, f"the {fmt} format has nested fields: use JSONL, JSON or Parquet, not CSV"
            )
        )
        return None
    missing = [name for name in CSV_COLUMNS[fmt] if name not in columns]
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


_Entry = tuple[int, int, Any, str]  # source number, line, record | Problem | DatasetHeader, format


class Planner:
    """Plans one import: `chunks()` gives the new rows chunk by chunk; `problems` holds what is
    wrong with the records (file order), `regrow` the items whose pairs are worked out again."""

    def __init__(self, dataset: str, limits: ImportLimits, chunk_records: int = 20_000) -> None:
        self.dataset = dataset
        self.limits = limits
        self.chunk_records = chunk_records
        self.problems = Problems()
        self.item_index: dict[str, int] = {}
        # Per item, in arrays (a million items would be ~200 MB of tuples): where it was first
        # seen (source << 40 | line), and the hash of its first record's content when it has an id.
        self.item_first = array("q")
        self.item_digest = array("q")  # NO_DIGEST for an item of records without an id
        self.hex_id_hashes: dict[int, str] = {}  # prompt hashes of items whose id looks like one
        self.grown: dict[int, _Grown] = {}  # items that records without an id may merge into
        self.every: set[int] = set()  # items whose responses are all paired
        self.regrow: set[int] = set()  # ...that grew after their first record
        self.merged = False  # a record added rows to an item seen before
        self._sources: list[Source] = []

    def where(self, source: int, line: int) -> Problem:
        src = self._sources[source]
        return Problem(src.name, line, None, "", src.unit)

    def item_where(self, rank: int) -> Problem:
        packed = self.item_first[rank]
        return self.where(packed >> 40, packed & _LINE_MASK)

    def item_id(self, rank: int) -> str:
        """The id of an item in `grown` (every item in `regrow` is)."""
        return self.grown[rank].item_id

    def chunks(
        self, sources: Sequence[Source], requested: str, headers: Headers, report: Report
    ) -> Iterator[Chunk]:
        self._sources = list(sources)
        entries: list[_Entry] = []
        with ThreadPoolExecutor(max_workers=1) as hashing:
            digests: list[tuple[int, Future[str], list[int], list[str | None]]] = []
            for number, src in enumerate(sources):
                counted = [0]
                fmt_box: list[str | None] = [requested]
                for entry in self._read(number, src, requested, counted, fmt_box):
                    entries.append(entry)
                    if len(entries) >= self.chunk_records:
                        yield self._plan(entries, headers, report)
                        entries = []
                if counted[0] >= 0:
                    digests.append((number, hashing.submit(src.sha256), counted, fmt_box))
            if entries:
                yield self._plan(entries, headers, report)
            for number, digest, counted, fmt_box in digests:
                report.records += counted[0]
                report.sources.append(
                    {
                        "path": sources[number].name,
                        "sha256": digest.result(),
                        "records": counted[0],
                        "format": fmt_box[0],
                    }
                )

    def _read(
        self, number: int, src: Source, requested: str, counted: list[int], fmt_box: list[str | None]
    ) -> Iterator[_Entry]:
        fmt: str | None = requested
        if src.path is not None and src.path.suffix.lower() == ".csv":
            fmt = csv_format(src.path, requested, self.problems)
            if fmt is None:
                counted[0] = -1  # a source that could not be read is not reported as read
                return
        fmt_box[0] = fmt
        for line, value in src.records():
            if type(value) is dict:
                counted[0] += 1
                if fmt == "auto":
                    fmt = fmt_box[0] = detect_format(value)
                    if fmt is None:
                        yield (
                            number,
                            line,
                            Problem(
                                src.name,
                                line,
                                None,
                                "cannot tell the format: expected a 'responses', 'response_a', 'chosen' or "
                                "'conversation_a' field (or pass --format)",
                                src.unit,
                            ),
                            "",
                        )
                        counted[0] = -1
                        return
            yield number, line, value, str(fmt)

    def _plan(self, entries: list[_Entry], headers: Headers, report: Report) -> Chunk:
        outcomes = self._parse(entries)
        rows = _Rows()
        problems = self.problems
        for (source, line, value, _), outcome in zip(entries, outcomes, strict=True):
            if isinstance(value, Problem):
                problems.add(value)
            elif isinstance(value, DatasetHeader):
                headers.add(value, problems)
            elif isinstance(outcome, Parsed):
                self._plan_record(outcome, source, line, rows, report)
            elif isinstance(outcome, SkipRecord):
                report.skipped[str(outcome)] = report.skipped.get(str(outcome), 0) + 1
            elif isinstance(outcome, FieldProblem):
                src = self._sources[source]
                problems.add(Problem(src.name, line, outcome.field, outcome.message, src.unit))
        return rows.chunk(self.dataset)

    def _parse(self, entries: list[_Entry]) -> list[Any]:
        """Each record's outcome (None for what is not a record), parsed a run of one format at a time."""
        outcomes: list[Any] = [None] * len(entries)
        start = 0
        while start < len(entries):
            fmt = entries[start][3]
            end = start
            while end < len(entries) and entries[end][3] == fmt:
                end += 1
            numbers = [n for n in range(start, end) if type(entries[n][2]) is dict]
            if numbers:
                batch = Batch([entries[n][2] for n in numbers])
                for n, outcome in zip(numbers, PARSERS[fmt](batch), strict=True):
                    outcomes[n] = outcome
            start = end
        return outcomes

    def _plan_record(self, parsed: Parsed, source: int, line: int, rows: _Rows, report: Report) -> None:
        blake2b = hashlib.blake2b
        prompt_hash = blake2b(parsed.prompt.encode(), digest_size=8).hexdigest()
        item_id = f"{self.dataset}/{parsed.source_id if parsed.source_id is not None else prompt_hash}"
        rank = self.item_index.get(item_id)
        digest = NO_DIGEST
        if parsed.source_id is not None:
            # What a repeat of the id is compared by (ids repeat rarely: an exact hash of the
            # content would cost more than the rest of the record's planning).
            digest = hash(
                (
                    parsed.prompt,
                    *parsed.responses,
                    parsed.metadata,
                    parsed.group_key,
                    parsed.pairs is None,
                    parsed.pair_metadata is None,
                )
            )
            if rank is not None:
                first_digest = self.item_digest[rank]
                if first_digest == digest:
                    report.duplicate_records += 1
                    return
                if first_digest != NO_DIGEST:
                    where = self.item_where(rank)
                    src = self._sources[source]
                    self.problems.add(
                        Problem(
                            src.name,
                            line,
                            "id",
                            f"duplicate id {parsed.source_id!r} with different content "
                            f"(first seen at {where.source}:{where.line})",
                            src.unit,
                        )
                    )
                    return
        if rank is None:
            self._new_item(parsed, item_id, prompt_hash, source, line, digest, rows)
        else:
            self._merge(parsed, item_id, rank, prompt_hash, source, line, rows)

    def _response_ids(self, item_id: str, parsed: Parsed) -> list[str]:
        blake2b = hashlib.blake2b
        return [
            "r_" + blake2b(f"{item_id}\x1f{model}\x1f{content}".encode(), digest_size=8).hexdigest()
            for model, content, _ in parsed.responses
        ]

    def _new_item(
        self,
        parsed: Parsed,
        item_id: str,
        prompt_hash: str,
        source: int,
        line: int,
        digest: int,
        rows: _Rows,
    ) -> None:
        rank = len(self.item_first)
        self.item_index[item_id] = rank
        self.item_first.append(source << 40 | line)
        self.item_digest.append(digest)
        if parsed.source_id is not None and _HEX16.fullmatch(parsed.source_id):
            self.hex_id_hashes[rank] = prompt_hash
        rows.item_ids.append(item_id)
        rows.item_ranks.append(rank)
        rows.items["source_id"].append(parsed.source_id)
        rows.items["prompt"].append(parsed.prompt)
        rows.items["prompt_hash"].append(prompt_hash)
        rows.group_keys.append(parsed.group_key or item_id)
        rows.metadata.append(parsed.metadata)
        ids = self._response_ids(item_id, parsed)
        for response_id, (model, content, metadata) in zip(ids, parsed.responses, strict=True):
            rows.response_ids.append(response_id)
            rows.response_items.append(item_id)
            rows.models.append(model)
            rows.contents.append(content)
            rows.response_metadata.append(metadata)
        # Records without an id may merge into this item later (and into one whose id looks
        # like a prompt hash): keep what they must not add twice.
        mergeable = parsed.source_id is None or parsed.pairs is None or rank in self.hex_id_hashes
        grown = _Grown(item_id, dict.fromkeys(ids)) if mergeable else None
        if parsed.pairs is None:
            self.every.add(rank)
            if len(ids) > self.limits.max_responses_per_item:
                where = self.where(source, line)
                self.problems.add(too_many_responses(where, item_id, len(ids), self.limits))
            pairs = list(combinations(range(len(ids)), 2))
        else:
            pairs = parsed.pairs
        label = parsed.pair_metadata if parsed.pairs is not None else None
        blake2b = hashlib.blake2b
        for x, y in pairs:
            id_x, id_y = ids[x], ids[y]
            low, high = (id_x, id_y) if id_x < id_y else (id_y, id_x)  # as ids.pair_id_for
            pair_id = "p_" + blake2b(f"{low}\x1f{high}".encode(), digest_size=8).hexdigest()
            metadata = pair_metadata(low, high, id_x, label) if label else "{}"
            rows.add_pair(item_id, rank, (pair_id, low, high), metadata)
            if grown is not None:
                grown.pairs.add(pair_id)
        if grown is not None:
            self.grown[rank] = grown

    def _merge(
        self, parsed: Parsed, item_id: str, rank: int, prompt_hash: str, source: int, line: int, rows: _Rows
    ) -> None:
        src = self._sources[source]
        # An item of records without an id has its prompt's hash as its id; an item of records
        # with an id can meet a record without one only if that id looks like a prompt hash.
        if self.item_digest[rank] == NO_DIGEST:
            first_hash = item_id[len(self.dataset) + 1 :]
        else:
            first_hash = self.hex_id_hashes.get(rank, "")
        if first_hash != prompt_hash:
            self.problems.add(
                Problem(src.name, line, "prompt", "differs from the first record with this id", src.unit)
            )
            return
        self.merged = True
        grown = self.grown.setdefault(rank, _Grown(item_id))
        ids = self._response_ids(item_id, parsed)
        for response_id, (model, content, metadata) in zip(ids, parsed.responses, strict=True):
            if response_id not in grown.responses:
                grown.responses[response_id] = None
                rows.response_ids.append(response_id)
                rows.response_items.append(item_id)
                rows.models.append(model)
                rows.contents.append(content)
                rows.response_metadata.append(metadata)
        if parsed.pairs is None:
            self.every.add(rank)
            count = len(grown.responses)
            if count > self.limits.max_responses_per_item:
                self.problems.add(
                    too_many_responses(
                        Problem(src.name, line, None, "", src.unit), item_id, count, self.limits
                    )
                )
        if rank in self.every:
            self.regrow.add(rank)  # its pairs are every combination of all its responses
            return
        for x, y in parsed.pairs or ():
            pair = pair_id_for(ids[x], ids[y])
            if pair[0] not in grown.pairs:
                grown.pairs.add(pair[0])
                label = parsed.pair_metadata
                rows.add_pair(
                    item_id, rank, pair, pair_metadata(pair[1], pair[2], ids[x], label) if label else "{}"
                )

    def regrown_pairs(
        self,
        responses_of: Callable[[list[str]], dict[str, list[tuple[str, str]]]],
        stored_before: set[str],
        skipped: dict[str, int],
    ) -> pa.Table:
        """The pairs of the items in `regrow`: every combination of their responses, those stored
        first (`responses_of`, which also sees this import's; `stored_before` are the ones stored by
        earlier imports), then this import's in file order; two responses of the same text are not
        paired."""
        rows = _Rows()
        ranks = sorted(self.regrow)
        found = responses_of([self.grown[rank].item_id for rank in ranks])
        for rank in ranks:
            item_id = self.grown[rank].item_id
            grown = self.grown[rank].responses
            new = [response_id for response_id in grown if response_id not in stored_before]
            every = dict(found.get(item_id, []))
            fresh = set(new)
            ordered = [response_id for response_id in every if response_id not in fresh]
            ordered += [response_id for response_id in new if response_id in every]
            for x, y in combinations(ordered, 2):
                if every[x].strip() == every[y].strip():
                    skipped["identical responses not paired"] = (
                        skipped.get("identical responses not paired", 0) + 1
                    )
                    continue
                rows.add_pair(item_id, rank, pair_id_for(x, y), "{}")
        return pairs_table(rows)
