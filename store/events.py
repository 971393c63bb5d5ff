"""The judgment log read as events, oldest first, for scripts that pull judgments as they come."""

from __future__ import annotations

from typing import Any

import duckdb

_EVENT_COLUMNS = (
    "seq",
    "id",
    "kind",
    "annotator",
    "item_id",
    "pair_id",
    "left_id",
    "right_id",
    "verdict",
    "strength",
    "rationale",
    "supersedes",
    "shown_at",
    "submitted_at",
)


def events_after(
    cur: duckdb.DuckDBPyConnection, after_seq: int, limit: int, annotator: str | None = None
) -> list[dict[str, Any]]:
    """Up to `limit` events with seq > after_seq (of one annotator, if given)."""
    rows = cur.execute(
        f"SELECT {', '.join(_EVENT_COLUMNS)} FROM judgments "
        "WHERE seq > ? AND (?::VARCHAR IS NULL OR annotator = ?) ORDER BY seq LIMIT ?",
        [after_seq, annotator, annotator, limit],
    ).fetchall()
    return [dict(zip(_EVENT_COLUMNS, row, strict=True)) for row in rows]
