"""The fast path of an import: well-formed records, planned in columns.

Checking 100k records one by one through `ingest_formats`, then planning them item by item, took
most of an import's seconds. Here a `pairs` or `responses` record of the common shape (text
prompt and answers, plain ids) is checked inline by the same rules; any other record goes
through its format's parser; ids are hashed in flat loops and the rows become Arrow tables.

Whenever the general path would have more to do than this, the fast path gives up by raising
`NotFast`, and the import runs the general path from the start, which words every message:

- a record that cannot be read, has a problem, or is skipped (an arena battle with one answer);
- two records for one item (a repeated line or id, prompts without ids merged by their hash);
- when storing: an item stored with another prompt, or a stored item of the `responses` format
  (its new responses are paired with the stored ones).

Both paths store the same rows in the same order (tests/unit/test_ingest_fast.py compares them).

    planner = FastPlanner("support")
    for chunk in planner.chunks([("auto", records)]):
        chunk.items.num_rows, chunk.pairs.column("id")
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import pyarrow as pa

from labeling.ingest_formats import (
    PAIRS_FIELDS,
    PARSERS,
    RESPONSES_FIELDS,
    Candidate,
    FieldProblem,
    SkipRecord,
    detect_format,
    item_metadata,
)
from labeling.ingest_ids import pair_metadata
from labeling.models import json_text, messages_to_json

_RESPONSE_FIELDS = frozenset({"model", "content"})
# Records with more responses take the general path, which holds the (configurable) cap on
# responses per item and words the refusal: the fast path never needs to know the limit.
FAST_PATH_MAX_RESPONSES = 8
_PAIRS_PLAIN = frozenset({"id", "prompt", "response_a", "response_b", "model_a", "model_b"})


class NotFast(Exception):
    """This import needs the general path: a problem to word, or records to merge."""


class _Irregular(Exception):
    """A record outside the common shape: its format's parser reads it instead."""


@dataclass(frozen=True)
class SourceRead:
    records: int
    format: str


@dataclass(frozen=True)
class FastChunk:
    """The rows of some records, in the order the general path would store them."""

    item_ids: list[str]
    prompt_hashes: list[str]
    every_combination: list[bool]  # per item: its pairs are every combination of its responses
    items: pa.Table
    responses: pa.Table
    pairs: pa.Table


def _text(value: Any) -> str:
    """Text as ingest_formats._text accepts it, of the plain kind: a string that is not blank."""
    if type(value) is not str or not value or value.isspace():
        raise _Irregular
    return value


def _key(value: Any) -> str | None:
    """An id or group key as ingest_formats._source_id reads it: None, a string or an integer."""
    if value is None:
        return None
    if type(value) is int:
        return str(value)
    return _text(value).strip()


def _model(value: Any, default: str) -> str:
    return default if value is None else _text(value).strip()


class _Columns:
    """Per-record fields in record order; responses flattened, pairs as indexes into them."""

    def __init__(self) -> None:
        self.source_ids: list[str | None] = []
        self.prompts: list[str] = []
        self.group_keys: list[str | None] = []
        self.metadata: list[str] = []
        self.every_combination: list[bool] = []
        self.response_item: list[int] = []
        self.models: list[str] = []
        self.contents: list[str] = []
        self.response_metadata: list[str] = []
        self.pair_x: list[int] = []
        self.pair_y: list[int] = []
        self.pair_source: list[dict[str, Any] | None] = []  # the source's label, for explicit pairs

    def add(self, fmt: str, record: dict[str, Any]) -> None:
        try:
            if fmt == "pairs":
                self._add_pairs(record)
                return
            if fmt == "responses":
                self._add_responses(record)
                return
        except _Irregular:
            pass
        try:
            candidate = PARSERS[fmt](record)
        except (FieldProblem, SkipRecord):
            raise NotFast from None
        self._add_candidate(candidate)

    def _metadata(self, record: dict[str, Any], known: frozenset[str]) -> str:
        if record.keys() <= known:
            return "{}"
        try:
            metadata = item_metadata(record, known)
        except FieldProblem:
            raise NotFast from None
        return json_text(metadata) if metadata else "{}"

    def _add_pairs(self, record: dict[str, Any]) -> None:
        """parse_pairs for text prompts and answers (the checks in the parser's terms). Written
        flat: this runs once per record, and each call or attribute lookup shows."""
        get = record.get
        prompt, answer_a, answer_b = get("prompt"), get("response_a"), get("response_b")
        if type(prompt) is not str or type(answer_a) is not str or type(answer_b) is not str:
            raise _Irregular
        stripped_a, stripped_b = answer_a.strip(), answer_b.strip()
        if not prompt or prompt.isspace() or not stripped_a or not stripped_b or stripped_a == stripped_b:
            raise _Irregular
        model_a, model_b = get("model_a"), get("model_b")
        model_a = "model_a" if model_a is None else _text(model_a).strip()
        model_b = "model_b" if model_b is None else _text(model_b).strip()
        source_id = get("id")
        if type(source_id) is str:
            source_id = source_id.strip()
            if not source_id:
                raise _Irregular
        elif source_id is not None:
            source_id = _key(source_id)
        if record.keys() <= _PAIRS_PLAIN:
            prompt_json = json_text([{"role": "user", "content": prompt}])
            group_key, metadata = None, "{}"
        else:
            system = get("system")
            turns = [{"role": "user", "content": prompt}]
            if system is not None:
                turns.insert(0, {"role": "system", "content": _text(system)})
            prompt_json = json_text(turns)
            group_key, metadata = _key(get("group_key")), self._metadata(record, PAIRS_FIELDS)
        first = len(self.models)
        self.source_ids.append(source_id)
        self.prompts.append(prompt_json)
        self.group_keys.append(group_key)
        self.metadata.append(metadata)
        self.every_combination.append(False)
        item = len(self.prompts) - 1
        self.response_item += (item, item)
        self.models += (model_a, model_b)
        self.contents += (answer_a, answer_b)
        self.response_metadata += ("{}", "{}")
        self.pair_x.append(first)
        self.pair_y.append(first + 1)
        self.pair_source.append(None)

    def _add_responses(self, record: dict[str, Any]) -> None:
        """parse_responses for a text prompt and responses of just a model and a content."""
        prompt = _text(record.get("prompt"))
        entries = record.get("responses")
        if type(entries) is not list or not 2 <= len(entries) <= FAST_PATH_MAX_RESPONSES:
            raise _Irregular
        answers: list[tuple[str, str]] = []
        seen: set[str] = set()
        for entry in entries:
            if type(entry) is not dict or entry.keys() != _RESPONSE_FIELDS:
                raise _Irregular
            model, content = _text(entry["model"]).strip(), _text(entry["content"])
            key = content.strip()
            if key in seen:
                raise _Irregular
            seen.add(key)
            answers.append((model, content))
        metadata = self._metadata(record, RESPONSES_FIELDS)
        source_id, group_key = _key(record.get("id")), _key(record.get("group_key"))
        first = len(self.models)
        self._add_item(source_id, json_text([{"role": "user", "content": prompt}]), group_key, metadata, True)
        for model, content in answers:
            self._add_response(model, content, "{}")
        for x, y in combinations(range(first, first + len(answers)), 2):
            self._add_pair(x, y, None)

    def _add_candidate(self, candidate: Candidate) -> None:
        if len(candidate.responses) > FAST_PATH_MAX_RESPONSES:
            raise NotFast
        every_combination = candidate.pairs is None
        metadata = json_text(candidate.metadata) if candidate.metadata else "{}"
        first = len(self.models)
        prompt_json = messages_to_json(candidate.prompt)
        self._add_item(candidate.source_id, prompt_json, candidate.group_key, metadata, every_combination)
        for response in candidate.responses:
            self._add_response(
                response.model, response.content, json_text(response.metadata) if response.metadata else "{}"
            )
        if candidate.pairs is None:
            for x, y in combinations(range(first, first + len(candidate.responses)), 2):
                self._add_pair(x, y, None)
        else:
            for x, y in candidate.pairs:
                self._add_pair(first + x, first + y, candidate.pair_metadata)

    def _add_item(
        self, source_id: str | None, prompt_json: str, group_key: str | None, metadata: str, every: bool
    ) -> None:
        self.source_ids.append(source_id)
        self.prompts.append(prompt_json)
        self.group_keys.append(group_key)
        self.metadata.append(metadata)
        self.every_combination.append(every)

    def _add_response(self, model: str, content: str, metadata: str) -> None:
        self.response_item.append(len(self.prompts) - 1)
        self.models.append(model)
        self.contents.append(content)
        self.response_metadata.append(metadata)

    def _add_pair(self, x: int, y: int, source_label: dict[str, Any] | None) -> None:
        self.pair_x.append(x)
        self.pair_y.append(y)
        self.pair_source.append(source_label)


def _strings(values: Sequence[str | None]) -> pa.Array:
    return pa.array(values, type=pa.string())


class FastPlanner:
    """Plans an import chunk by chunk, so that one chunk can be stored while the next is read.

    planner = FastPlanner("support")
    for chunk in planner.chunks([("auto", records)]):
        ...  # store chunk.items, chunk.responses, chunk.pairs
    planner.sources  # records read and format, per source, once every chunk is out
    """

    def __init__(self, dataset: str, chunk_records: int = 25_000) -> None:
        self.dataset = dataset
        self.chunk_records = chunk_records
        self.sources: list[SourceRead] = []
        # Every id so far: an import's rows are unique (repeats are the general path's work).
        self._ids: dict[str, set[str]] = {"items": set(), "responses": set(), "pairs": set()}

    def chunks(self, sources: Sequence[tuple[str, Iterable[dict[str, Any]]]]) -> Iterator[FastChunk]:
        """Chunks of (requested format, records) sources; NotFast when the general path must run."""
        columns = _Columns()
        for requested, records in sources:
            fmt: str | None = requested
            count = 0
            for record in records:
                if fmt == "auto":
                    fmt = detect_format(record)
                if fmt is None:
                    raise NotFast
                columns.add(fmt, record)
                count += 1
                if len(columns.prompts) >= self.chunk_records:
                    yield self._rows(columns)
                    columns = _Columns()
            self.sources.append(SourceRead(count, str(fmt)))
        if columns.prompts:
            yield self._rows(columns)
        if not self._ids["items"]:
            raise NotFast  # no records: the general path says so

    def _unique(self, kind: str, ids: list[str]) -> None:
        seen = self._ids[kind]
        before = len(seen)
        seen.update(ids)
        if len(seen) - before != len(ids):
            raise NotFast

    def _rows(self, columns: _Columns) -> FastChunk:
        # The same hashes as ingest_ids.short_hash, inlined: a call per id is a fifth of the time.
        blake2b = hashlib.blake2b
        dataset = self.dataset
        prompt_hashes = [blake2b(p.encode(), digest_size=8).hexdigest() for p in columns.prompts]
        prefix = f"{dataset}/"
        item_ids = [
            prefix + (source_id if source_id is not None else prompt_hash)
            for source_id, prompt_hash in zip(columns.source_ids, prompt_hashes, strict=True)
        ]
        self._unique("items", item_ids)
        response_ids = [
            "r_" + blake2b(f"{item_ids[n]}\x1f{model}\x1f{content}".encode(), digest_size=8).hexdigest()
            for n, model, content in zip(columns.response_item, columns.models, columns.contents, strict=True)
        ]
        self._unique("responses", response_ids)
        pair_ids: list[str] = []
        firsts: list[str] = []
        seconds: list[str] = []
        pair_metadatas: list[str] = []
        for x, y, source_label in zip(columns.pair_x, columns.pair_y, columns.pair_source, strict=True):
            id_x, id_y = response_ids[x], response_ids[y]
            first, second = (id_x, id_y) if id_x < id_y else (id_y, id_x)
            pair_ids.append("p_" + blake2b(f"{first}\x1f{second}".encode(), digest_size=8).hexdigest())
            firsts.append(first)
            seconds.append(second)
            pair_metadatas.append(pair_metadata(first, second, id_x, source_label) if source_label else "{}")
        self._unique("pairs", pair_ids)
        items = pa.table(
            {
                "id": _strings(item_ids),
                "dataset": _strings([dataset] * len(item_ids)),
                "source_id": _strings(columns.source_ids),
                "prompt": _strings(columns.prompts),
                "prompt_hash": _strings(prompt_hashes),
                "group_key": _strings(
                    [key or item_id for key, item_id in zip(columns.group_keys, item_ids, strict=True)]
                ),
                "metadata": _strings(columns.metadata),
            }
        )
        responses = pa.table(
            {
                "id": _strings(response_ids),
                "item_id": _strings([item_ids[n] for n in columns.response_item]),
                "model": _strings(columns.models),
                "content": _strings(columns.contents),
                "metadata": _strings(columns.response_metadata),
            }
        )
        pairs = pa.table(
            {
                "id": _strings(pair_ids),
                "item_id": _strings([item_ids[columns.response_item[x]] for x in columns.pair_x]),
                "response_a_id": _strings(firsts),
                "response_b_id": _strings(seconds),
                "metadata": _strings(pair_metadatas),
            }
        )
        return FastChunk(item_ids, prompt_hashes, columns.every_combination, items, responses, pairs)
