"""What the queue reads: pairs in import order, and the judgment log by sequence number.

Which judgments are in force is defined once, in the store (migration 0008): the view
`in_force_changes` gives each event's change to an annotator's judgments in force on a pair
(+1 a pair judgment, -1 its withdrawal, 0 anything else), and `current_pair_judgments` the
judgments in force themselves, for the stats and the exports. The queue sums the changes.

The queue keeps an index of the log in memory and reads only what is new (`seq > last seen`),
so a next-pair decision does not re-aggregate a million judgments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa

from labeling.models import Item, Response, messages_from_json


@dataclass(frozen=True)
class NewPairs:
    """Pairs in seq order: columns id, item_id, response_a_id, response_b_id (Arrow strings,
    not a Python object per pair: the serving index keeps them as they come)."""

    table: pa.Table
    last_seq: int


@dataclass(frozen=True)
class LogState:
    """Per annotator: positions of pairs (in pairs' seq order) and judgments in force on each."""

    by_annotator: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]
    last_seq: int


@dataclass(frozen=True)
class LogDelta:
    """Per (annotator, pair): the change in judgments in force since the last read."""

    annotators: list[str]
    pair_ids: list[str]
    changes: list[int]
    last_seq: int


def pairs_after(cur: duckdb.DuckDBPyConnection, after_seq: int) -> NewPairs:
    table = cur.execute(
        "SELECT id, item_id, response_a_id, response_b_id, seq FROM pairs WHERE seq > ? ORDER BY seq",
        [after_seq],
    ).to_arrow_table()
    last = table.column("seq")[-1].as_py() if table.num_rows else after_seq
    return NewPairs(table.drop_columns(["seq"]).combine_chunks(), int(last))


# Judgments read per query at start-up: the aggregation's hash table is what the server's
# peak memory is made of, and the changes add up, so the log is summed a slice at a time.
LOG_SLICE = 250_000


def log_state(
    cur: duckdb.DuckDBPyConnection, pairs_up_to_seq: int, *, slice_size: int = LOG_SLICE
) -> LogState:
    """The whole log as arrays (the first read of a store with a million judgments: no Python
    object per judgment). Positions count pairs with seq <= pairs_up_to_seq, in seq order."""
    row = cur.execute("SELECT coalesce(max(seq), 0) FROM judgments").fetchone()
    last = int(row[0]) if row else 0
    parts: dict[str, list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]] = {}
    for start in range(0, last, slice_size):
        for name, positions, counts in _log_slice(cur, pairs_up_to_seq, start, min(start + slice_size, last)):
            parts.setdefault(name, []).append((positions, counts))
    by_annotator = {}
    for name, sliced in parts.items():
        positions, counts = _sum_by_position(sliced)
        kept = counts != 0
        if kept.any():
            by_annotator[name] = (positions[kept], counts[kept])
    return LogState(by_annotator, last)


def _log_slice(
    cur: duckdb.DuckDBPyConnection, pairs_up_to_seq: int, after_seq: int, up_to_seq: int
) -> list[tuple[str, npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """Per annotator: the pair positions and the sum of changes of the events in (after, up_to]."""
    table = cur.execute(
        """
        WITH positions AS (
            SELECT id, row_number() OVER (ORDER BY seq) - 1 AS position FROM pairs WHERE seq <= ?
        ),
        counts AS (
            SELECT c.annotator, p.position, sum(c.change) AS n
            FROM in_force_changes c JOIN positions p ON p.id = c.pair_id
            WHERE c.seq > ? AND c.seq <= ?
            GROUP BY ALL
            HAVING n <> 0
        )
        SELECT annotator, list(position) AS positions, list(n) AS counts FROM counts GROUP BY annotator
        """,
        [pairs_up_to_seq, after_seq, up_to_seq],
    ).to_arrow_table()
    return [
        (
            name,
            table.column("positions")[index].values.to_numpy(zero_copy_only=False).astype(np.int64),
            table.column("counts")[index].values.to_numpy(zero_copy_only=False).astype(np.int64),
        )
        for index, name in enumerate(table.column("annotator").to_pylist())
    ]


def _sum_by_position(
    sliced: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """One annotator's slices added up: each position once, with the sum of its changes."""
    if len(sliced) == 1:
        return sliced[0]
    positions = np.concatenate([part[0] for part in sliced])
    counts = np.concatenate([part[1] for part in sliced])
    unique, inverse = np.unique(positions, return_inverse=True)
    return unique, np.bincount(inverse, weights=counts, minlength=len(unique)).astype(np.int64)


def log_after(cur: duckdb.DuckDBPyConnection, after_seq: int) -> LogDelta:
    """Judgments in force gained (+) or lost (-) per annotator and pair, after `after_seq`
    (the in_force_changes view). Writes are serialised, so everything up to the highest seq
    read is committed."""
    rows = cur.execute(
        """
        SELECT annotator, pair_id, sum(change)::INTEGER
        FROM in_force_changes
        WHERE seq > ?
        GROUP BY annotator, pair_id
        """,
        [after_seq],
    ).fetchall()
    row = cur.execute(
        "SELECT coalesce(max(seq), ?) FROM judgments WHERE seq > ?", [after_seq, after_seq]
    ).fetchone()
    last = int(row[0]) if row else after_seq
    changed = [r for r in rows if r[2] != 0 and r[1] is not None]
    return LogDelta([r[0] for r in changed], [r[1] for r in changed], [r[2] for r in changed], last)


def showing_parts(
    cur: duckdb.DuckDBPyConnection, item_id: str, left_id: str, right_id: str
) -> tuple[Item, Response, Response] | None:
    """The item and both responses of a showing (this runs for every pair shown): one query of
    key lookups, which use the indexes (a join of the three does not: 5 ms against 1 ms; two
    queries cost ~0.15 ms of CPU more than one)."""
    rows = cur.execute(
        """
        SELECT 'item', id, dataset, prompt::VARCHAR, group_key, metadata::VARCHAR FROM items WHERE id = ?
        UNION ALL
        SELECT 'response', id, item_id, model, content, metadata::VARCHAR FROM responses WHERE id IN (?, ?)
        """,
        [item_id, left_id, right_id],
    ).fetchall()
    item_rows = [row[1:] for row in rows if row[0] == "item"]
    responses = {row[1]: _response(row[1:]) for row in rows if row[0] == "response"}
    if not item_rows or left_id not in responses or right_id not in responses:
        return None
    item_row = item_rows[0]
    item = Item(
        item_row[0], item_row[1], messages_from_json(item_row[2]), item_row[3], orjson.loads(item_row[4])
    )
    return item, responses[left_id], responses[right_id]


def _response(row: tuple[Any, ...]) -> Response:
    return Response(row[0], row[1], row[2], row[3], orjson.loads(row[4]))
