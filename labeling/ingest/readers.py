"""Reading raw records out of JSONL, JSON, CSV and Parquet files, each with its location.

for location, record in read_records(Path("pairs.csv")):
    ...  # record is a dict, a Problem saying why that line could not be read, or a DatasetHeader

A JSONL or JSON file may open with a dataset header that sets the dataset's wording
(labeling/wording.py). It is never read as a record:

    {"prefdesk_dataset": {"question": "Which reply is kinder?", "user_label": "Customer"}}
    {"id": "t-1", "prompt": "...", "responses": [...]}

as the first line of a JSONL file, or in a .json file, an object instead of the array:
`{"prefdesk_dataset": {...}, "records": [...]}`. CSV and Parquet files set it with flags.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from labeling.errors import Problem

SUPPORTED_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".parquet")
_PROGRESS_FROM_BYTES = 4 * 1024 * 1024  # smaller files read too fast for a bar to help
_PROGRESS_STEP = 1 << 20

HEADER_KEY = "prefdesk_dataset"
JSON_OBJECT_FORM = '{"prefdesk_dataset": {...}, "records": [...]}'
Record = dict[str, Any]


@dataclass(frozen=True)
class DatasetHeader:
    """A file's dataset header: the value under "prefdesk_dataset", unchecked, and its place."""

    fields: Any
    source: str
    line: int | None  # None in a .json file (the header is not a record)


Located = tuple[int, Record | Problem | DatasetHeader]  # (line or row number, what is there)


def _misplaced_header(source: str, number: int, unit: str, first: bool, record: Record) -> Problem:
    if first:
        others = ", ".join(sorted(key for key in record if key != HEADER_KEY))
        message = f'the dataset header holds only "{HEADER_KEY}" (also found: {others})'
    elif unit == "record":
        message = f"a dataset header is not a record: write the file as {JSON_OBJECT_FORM}"
    else:
        message = "a dataset header must be the first line of the file"
    return Problem(source, number, HEADER_KEY, message, unit)


def _progress(path: Path, total: int, unit: str) -> tqdm:
    show = path.stat().st_size >= _PROGRESS_FROM_BYTES
    return tqdm(
        total=total,
        unit=unit,
        unit_scale=True,
        desc=f"reading {path.name}",
        disable=None if show else True,
        leave=False,
    )


def _decode_error_line(data: bytes, exc: UnicodeDecodeError) -> tuple[int, str]:
    line = data.count(b"\n", 0, exc.start) + 1
    column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
    return line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at column {column})"


def _jsonl_problem(source: str, number: int, raw: bytes) -> Record | Problem:
    """What a line that did not load at once says: the text decoded first, as a person reads it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        _, message = _decode_error_line(raw, exc)
        return Problem(source, number, None, message)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return Problem(source, number, None, _json_message(exc))
    if not isinstance(value, dict):
        return Problem(source, number, None, f"expected a JSON object, got {type(value).__name__}")
    return value  # pragma: no cover (bytes that load as text also load as bytes)


def _json_message(exc: orjson.JSONDecodeError) -> str:
    """One wording for JSON that does not load, in JSONL and .json files alike (NaN and Infinity
    included: they are not JSON, so neither reader takes them)."""
    return f"not valid JSON: {exc.msg} (column {exc.colno})"


def read_jsonl(path: Path) -> Iterator[Located]:
    """Each non-blank line's object with its line number. A clean line costs one orjson call
    (it checks UTF-8 itself); a line that fails is decoded again to word the problem."""
    source = str(path)
    loads = orjson.loads
    first = True
    with path.open("rb") as handle, _progress(path, path.stat().st_size, "B") as bar:
        done = 0
        for number, raw in enumerate(handle, start=1):
            done += len(raw)
            if done >= _PROGRESS_STEP:  # tqdm per line would cost more than reading it
                bar.update(done)
                done = 0
            if raw.isspace():
                continue
            was_first, first = first, False
            try:
                value = loads(raw)
            except orjson.JSONDecodeError:
                yield number, _jsonl_problem(source, number, raw)
                continue
            if type(value) is not dict:
                yield (
                    number,
                    Problem(source, number, None, f"expected a JSON object, got {type(value).__name__}"),
                )
                continue
            if HEADER_KEY in value:
                if was_first and len(value) == 1:
                    yield number, DatasetHeader(value[HEADER_KEY], source, number)
                else:
                    yield number, _misplaced_header(source, number, "line", was_first, value)
                continue
            yield number, value
        bar.update(done)


def read_json_array(path: Path) -> Iterator[Located]:
    """A .json file holding one array of records, or an object with a dataset header and the
    records (`{"prefdesk_dataset": {...}, "records": [...]}`); locations are 1-based record
    numbers. It is read by the same JSON rules as a JSONL line: NaN and Infinity are refused."""
    source = str(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, message = _decode_error_line(data, exc)
        yield line, Problem(source, line, None, message)
        return
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        yield exc.lineno, Problem(source, exc.lineno, None, _json_message(exc))
        return
    if isinstance(value, dict) and HEADER_KEY in value and isinstance(value.get("records"), list):
        extra = sorted(key for key in value if key not in (HEADER_KEY, "records"))
        if extra:
            yield 1, Problem(source, None, None, f"unknown field(s) beside the header and records: {extra}")
            return
        yield 0, DatasetHeader(value[HEADER_KEY], source, None)
        value = value["records"]
    if not isinstance(value, list):
        yield (
            1,
            Problem(
                source,
                1,
                None,
                f"a .json file must hold an array of records, or {JSON_OBJECT_FORM}",
            ),
        )
        return
    for number, record in enumerate(value, start=1):
        if isinstance(record, dict) and HEADER_KEY in record:
            yield number, _misplaced_header(source, number, "record", False, record)
        elif isinstance(record, dict):
            yield number, record
        else:
            yield number, Problem(source, number, None, "not a JSON object", "record")


def read_csv(path: Path) -> Iterator[Located]:
    """CSV with a header row. Empty cells are missing values; line numbers count the header."""
    source = str(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, message = _decode_error_line(data, exc)
        yield line, Problem(source, line, None, message)
        return
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        yield 1, Problem(source, 1, None, f"not valid CSV: {exc}")
        return
    names = [name.strip() for name in header]
    with _progress(path, len(data), "B") as bar:
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, Problem(source, start, None, f"not valid CSV: {exc}")
                return
            bar.update(sum(len(cell) for cell in row) + len(row))
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(names):
                yield (
                    start,
                    Problem(
                        source,
                        start,
                        None,
                        f"has {len(row)} cells but the header has {len(names)} columns",
                    ),
                )
                continue
            yield start, {name: cell for name, cell in zip(names, row, strict=True) if cell != ""}


def csv_columns(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        header = next(csv.reader(handle), [])
    return [name.strip() for name in header]


def read_parquet(path: Path) -> Iterator[Located]:
    """Parquet rows as dicts (nested lists/structs become lists/dicts); locations are row numbers."""
    import pyarrow.parquet as pq  # a heavy import only Parquet users pay for

    source = str(path)
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a corrupt file
        yield 1, Problem(source, None, None, f"not a readable Parquet file: {exc}", "row")
        return
    number = 0
    with _progress(path, parquet.metadata.num_rows, "rows") as bar:
        for batch in parquet.iter_batches(batch_size=8192):
            rows = batch.to_pylist()
            bar.update(len(rows))
            for row in rows:
                number += 1
                yield number, {key: value for key, value in row.items() if value is not None}


def read_records(path: Path) -> Iterator[Located]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl(path)
    if suffix == ".json":
        return read_json_array(path)
    if suffix == ".csv":
        return read_csv(path)
    if suffix == ".parquet":
        return read_parquet(path)
    raise ValueError(suffix)


def location_unit(path: Path) -> str:
    """What a location number counts in this file: lines, Parquet rows or JSON-array records."""
    return {".parquet": "row", ".json": "record"}.get(path.suffix.lower(), "line")
