"""`prefdesk export judgments --target csv|parquet|jsonl`: the judgments in force as one table,
one row per judgment, for analysis (pandas, DuckDB, a spreadsheet).

Only judgments in force appear: an undone judgment does not, and a judgment made again
(undone, then judged anew) appears in its latest form only. Times are UTC: RFC 3339 text in
CSV and JSONL, timestamps in Parquet.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

COLUMNS = (
    "judgment_id",
    "item_id",
    "pair_id",
    "dataset",
    "annotator",
    "verdict",  # left | right | tie | both_bad, as the annotator saw the sides
    "left_response_id",
    "left_model",
    "right_response_id",
    "right_model",
    "preferred_model",  # the model of the preferred side; empty for tie and both_bad
    "strength",  # 1 slightly, 2 clearly, 3 much better; empty when not given
    "rationale",
    "shown_at",
    "submitted_at",
)
FILE_NAMES = {"csv": "judgments.csv", "parquet": "judgments.parquet", "jsonl": "judgments.jsonl"}


def judgment_rows(raw: pa.Table, *, times_as_text: bool) -> pa.Table:
    """The exported table from store.judgments.judgments_in_force_table's rows: the preferred
    model, rationale as text ("" when none), times in UTC."""
    verdict = raw.column("verdict")
    preferred = pc.if_else(
        pc.equal(verdict, "left"),
        raw.column("left_model"),
        pc.if_else(pc.equal(verdict, "right"), raw.column("right_model"), pa.scalar(None, pa.string())),
    )
    columns = {name: raw.column(name) for name in raw.column_names}
    columns["preferred_model"] = preferred
    columns["rationale"] = pc.fill_null(raw.column("rationale"), "")
    for name in ("shown_at", "submitted_at"):
        utc = pc.assume_timezone(raw.column(name).cast(pa.timestamp("us")), "UTC")
        columns[name] = pc.strftime(utc, format="%Y-%m-%dT%H:%M:%SZ") if times_as_text else utc
    return pa.table({name: columns[name] for name in COLUMNS})
