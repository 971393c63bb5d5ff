"""The eval registry: items that must never be trained on, and the exports log."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from store.catalog import registered


def registered_eval_items(cur: duckdb.DuckDBPyConnection) -> set[str]:
    return {item_id for (item_id,) in cur.execute("SELECT item_id FROM eval_registry").fetchall()}


def register_eval_items(
    cur: duckdb.DuckDBPyConnection, item_ids: Iterable[str], *, export_id: str, now: datetime
) -> None:
    """Add items to the registry; an item already there keeps its first export."""
    table = pa.table({"item_id": pa.array(sorted(set(item_ids)), type=pa.string())})
    with registered(cur, new_eval_items=table):
        cur.execute(
            "INSERT INTO eval_registry SELECT item_id, ?, ? FROM new_eval_items ON CONFLICT DO NOTHING",
            [export_id, now],
        )


def record_export(
    cur: duckdb.DuckDBPyConnection,
    *,
    export_id: str,
    kind: str,
    target: str,
    out_dir: str,
    manifest: dict[str, Any],
    now: datetime,
) -> None:
    cur.execute(
        "INSERT INTO exports VALUES (?, ?, ?, ?, ?, ?)",
        [export_id, kind, target, out_dir, json.dumps(manifest), now],
    )
