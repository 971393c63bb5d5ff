"""What the queue reads: pairs in import order, and the judgment log by sequence number.

The queue keeps an index of the log in memory and reads only what is new (`seq > last seen`),
so a next-pair decision does not re-aggregate a million judgments.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class NewPairs:
    ids: list[str]
    item_ids: list[str]
    response_a_ids: list[str]
    response_b_ids: list[str]
    last_seq: int


@dataclass(frozen=True)
class LogDelta:
    """Per (annotator, pair): the change in judgments in force since the last read."""

    annotators: list[str]
    pair_ids: list[str]
    changes: list[int]
    last_seq: int


def pairs_after(cur: duckdb.DuckDBPyConnection, after_seq: int) -> NewPairs:
    rows = cur.execute(
        "SELECT id, item_id, response_a_id, response_b_id, seq FROM pairs WHERE seq > ? ORDER BY seq",
        [after_seq],
    ).fetchall()
    return NewPairs(
        ids=[r[0] for r in rows],
        item_ids=[r[1] for r in rows],
        response_a_ids=[r[2] for r in rows],
        response_b_ids=[r[3] for r in rows],
        last_seq=rows[-1][4] if rows else after_seq,
    )


def log_after(cur: duckdb.DuckDBPyConnection, after_seq: int) -> LogDelta:
    """Judgments in force gained (+) or lost to an undo (-) per annotator and pair, after
    `after_seq`. The first read (after 0) nets out undos within the range, so it is the state."""
    row = cur.execute("SELECT coalesce(max(seq), 0) FROM judgments").fetchone()
    last = int(row[0]) if row else 0
    if last <= after_seq:
        return LogDelta([], [], [], after_seq)
    rows = cur.execute(
        """
        SELECT annotator, pair_id, sum(CASE kind WHEN 'pair' THEN 1 ELSE -1 END)::INTEGER AS change
        FROM judgments
        WHERE seq > ? AND seq <= ? AND kind IN ('pair', 'undo') AND pair_id IS NOT NULL
        GROUP BY annotator, pair_id
        HAVING change <> 0
        """,
        [after_seq, last],
    ).fetchall()
    return LogDelta([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], last)
