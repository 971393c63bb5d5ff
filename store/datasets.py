"""Datasets: their sizes, and their wording (versioned rows in `dataset_wording`, latest wins)."""

from __future__ import annotations

from datetime import datetime

import duckdb

from labeling.models import WORDING_FIELDS, DatasetInfo

_FIELDS = ", ".join(WORDING_FIELDS)


def latest_wordings(cur: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str | None]]:
    """Each dataset's latest wording row: {dataset: {field: value or None (the default)}}."""
    rows = cur.execute(
        f"SELECT dataset, {_FIELDS} FROM dataset_wording QUALIFY row_number() OVER "
        "(PARTITION BY dataset ORDER BY seq DESC) = 1"
    ).fetchall()
    return {row[0]: dict(zip(WORDING_FIELDS, row[1:], strict=True)) for row in rows}


def insert_wording(
    cur: duckdb.DuckDBPyConnection,
    dataset: str,
    chosen: dict[str, str | None],
    *,
    set_by: str,
    now: datetime,
) -> None:
    """A new wording row for `dataset`: every field, as it is to be from now on."""
    cur.execute(
        f"INSERT INTO dataset_wording (dataset, {_FIELDS}, set_by, set_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [dataset, *(chosen.get(name) for name in WORDING_FIELDS), set_by, now],
    )


def dataset_infos(cur: duckdb.DuckDBPyConnection) -> list[DatasetInfo]:
    """Every dataset with items, by name: its items, pairs and chosen wording."""
    rows = cur.execute(
        "SELECT i.dataset, count(DISTINCT i.id), count(p.id) FROM items i "
        "LEFT JOIN pairs p ON p.item_id = i.id GROUP BY i.dataset ORDER BY i.dataset"
    ).fetchall()
    wordings = latest_wordings(cur)
    return [
        DatasetInfo(name, items, pairs, wordings.get(name, dict.fromkeys(WORDING_FIELDS)))
        for name, items, pairs in rows
    ]


def dataset_exists(cur: duckdb.DuckDBPyConnection, dataset: str) -> bool:
    return cur.execute("SELECT 1 FROM items WHERE dataset = ? LIMIT 1", [dataset]).fetchone() is not None
