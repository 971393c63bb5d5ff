"""The eval registry (items that must never be trained on), and the exports log.

Registrations are per export and never deleted: an eval set's items stay on record, and
undoing them adds a row to eval_registry_removals. An item is registered while at least one
export that registered it has not been removed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from labeling.models import EvalSet, ExportRef
from store.catalog import registered

_IN_FORCE = "NOT EXISTS (SELECT 1 FROM eval_registry_removals x WHERE x.export_id = r.export_id)"
_EXPORT = "e.id, e.kind, e.target, e.out_dir, e.created_at"


def _ids(item_ids: Iterable[str]) -> pa.Table:
    return pa.table({"item_id": pa.array(sorted(set(item_ids)), type=pa.string())})


def registered_eval_items(cur: duckdb.DuckDBPyConnection) -> set[str]:
    """Items registered by an eval set that has not been removed."""
    rows = cur.execute(f"SELECT DISTINCT item_id FROM eval_registry r WHERE {_IN_FORCE}").fetchall()
    return {item_id for (item_id,) in rows}


def register_eval_items(
    cur: duckdb.DuckDBPyConnection, item_ids: Iterable[str], *, export_id: str, now: datetime
) -> None:
    """Record the items of an export's eval set or eval split."""
    with registered(cur, new_eval_items=_ids(item_ids)):
        cur.execute("INSERT INTO eval_registry SELECT item_id, ?, ? FROM new_eval_items", [export_id, now])


def record_training_items(cur: duckdb.DuckDBPyConnection, item_ids: Iterable[str], *, export_id: str) -> None:
    """Record the items a training export wrote to its training file."""
    with registered(cur, trained=_ids(item_ids)):
        cur.execute("INSERT INTO export_training_items SELECT ?, item_id FROM trained", [export_id])


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
        "INSERT INTO exports (id, kind, target, out_dir, manifest, created_at, items_recorded) "
        "VALUES (?, ?, ?, ?, ?, ?, true)",
        [export_id, kind, target, out_dir, json.dumps(manifest), now],
    )


def _export_ref(row: tuple[Any, ...]) -> ExportRef:
    return ExportRef(*row[:5])


def _holders(
    cur: duckdb.DuckDBPyConnection, table: str, where: str, item_ids: Iterable[str]
) -> tuple[list[tuple[ExportRef, int]], int]:
    with registered(cur, wanted=_ids(item_ids)):
        rows = cur.execute(
            f"SELECT {_EXPORT}, count(DISTINCT r.item_id) FROM {table} r "
            f"JOIN wanted w ON w.item_id = r.item_id JOIN exports e ON e.id = r.export_id "
            f"WHERE {where} GROUP BY ALL ORDER BY e.created_at, e.id"
        ).fetchall()
        (distinct,) = cur.execute(
            f"SELECT count(DISTINCT r.item_id) FROM {table} r JOIN wanted w ON w.item_id = r.item_id "
            f"WHERE {where}"
        ).fetchone() or (0,)
    return [(_export_ref(row), int(row[5])) for row in rows], int(distinct)


def eval_sets_holding(
    cur: duckdb.DuckDBPyConnection, item_ids: Iterable[str]
) -> tuple[list[tuple[ExportRef, int]], int]:
    """The eval sets in force that registered any of these items (oldest first, with how many of
    them each holds), and how many of the items are registered at all."""
    return _holders(cur, "eval_registry", _IN_FORCE, item_ids)


def training_exports_holding(
    cur: duckdb.DuckDBPyConnection, item_ids: Iterable[str]
) -> tuple[list[tuple[ExportRef, int]], int]:
    """The exports whose training files held any of these items (oldest first, with how many
    each held), and how many of the items were in any training file."""
    return _holders(cur, "export_training_items", "true", item_ids)


def exports_without_item_records(cur: duckdb.DuckDBPyConnection, kinds: Iterable[str]) -> list[ExportRef]:
    """Exports of these kinds made before prefdesk recorded which items an export wrote."""
    rows = cur.execute(
        f"SELECT {_EXPORT} FROM exports e WHERE NOT coalesce(e.items_recorded, false) "
        "AND list_contains(?::VARCHAR[], e.kind) ORDER BY e.created_at, e.id",
        [list(kinds)],
    ).fetchall()
    return [_export_ref(row) for row in rows]


def eval_sets(cur: duckdb.DuckDBPyConnection) -> list[EvalSet]:
    """Every export that registered eval items, oldest first, removed ones included."""
    rows = cur.execute(
        f"SELECT {_EXPORT}, count(*), x.removed_at FROM eval_registry r "
        "JOIN exports e ON e.id = r.export_id LEFT JOIN eval_registry_removals x ON x.export_id = e.id "
        "GROUP BY ALL ORDER BY e.created_at, e.id"
    ).fetchall()
    return [EvalSet(_export_ref(row), int(row[5]), row[6]) for row in rows]


def eval_set_items(cur: duckdb.DuckDBPyConnection, export_id: str) -> list[str]:
    rows = cur.execute(
        "SELECT item_id FROM eval_registry WHERE export_id = ? ORDER BY item_id", [export_id]
    ).fetchall()
    return [item_id for (item_id,) in rows]


def record_removal(cur: duckdb.DuckDBPyConnection, export_id: str, *, now: datetime) -> datetime | None:
    """Undo an eval set's registrations (its rows stay, as a record of what it held). Returns
    None, or when it was removed before if it was."""
    inserted = cur.execute(
        "INSERT INTO eval_registry_removals VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING export_id",
        [export_id, now],
    ).fetchone()
    if inserted is not None:
        return None
    row = cur.execute(
        "SELECT removed_at FROM eval_registry_removals WHERE export_id = ?", [export_id]
    ).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def export_written_to(cur: duckdb.DuckDBPyConnection, out_dir: str) -> bool:
    """Whether an export was recorded as written into the folder `out_dir` (a resolved path)."""
    return cur.execute("SELECT 1 FROM exports WHERE out_dir = ? LIMIT 1", [out_dir]).fetchone() is not None
