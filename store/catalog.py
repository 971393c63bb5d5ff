"""What can be judged: items (prompts), their responses, and the pairs built from them.

Imports check and insert inside one write unit (`store.write(unit)`), so an import either
lands whole or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb

from labeling.models import Item, Pair, Response, messages_from_json

if TYPE_CHECKING:  # loaded where tables are built: `prefdesk stats` needs no pyarrow
    import pyarrow as pa

ITEM_COLUMNS = ("id", "dataset", "source_id", "prompt", "prompt_hash", "group_key", "metadata")
RESPONSE_COLUMNS = ("id", "item_id", "model", "content", "metadata")
PAIR_COLUMNS = ("id", "item_id", "response_a_id", "response_b_id", "metadata")


def _ids_table(ids: Sequence[str]) -> pa.Table:
    import pyarrow as pa

    return pa.table({"id": pa.array(list(ids), type=pa.string())})


@contextmanager
def registered(cur: duckdb.DuckDBPyConnection, **tables: pa.Table) -> Iterator[None]:
    """Arrow tables visible to SQL under the given names for the duration of the block."""
    for name, table in tables.items():
        cur.register(name, table)
    try:
        yield
    finally:
        for name in tables:
            cur.unregister(name)


def prompt_hashes(cur: duckdb.DuckDBPyConnection, item_ids: Sequence[str]) -> dict[str, str]:
    """prompt_hash of each already-stored item among `item_ids`."""
    with registered(cur, wanted=_ids_table(item_ids)):
        rows = cur.execute("SELECT i.id, i.prompt_hash FROM items i JOIN wanted w ON w.id = i.id").fetchall()
    return {row[0]: row[1] for row in rows}


def responses_of(cur: duckdb.DuckDBPyConnection, item_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """(response id, content) of stored responses for each of `item_ids`, oldest first."""
    with registered(cur, wanted=_ids_table(item_ids)):
        rows = cur.execute(
            "SELECT r.item_id, r.id, r.content FROM responses r JOIN wanted w ON w.id = r.item_id "
            "ORDER BY r.created_at, r.id"
        ).fetchall()
    found: dict[str, list[tuple[str, str]]] = {}
    for item_id, response_id, content in rows:
        found.setdefault(item_id, []).append((response_id, content))
    return found


def stored_pair_ids(cur: duckdb.DuckDBPyConnection, pair_ids: Sequence[str]) -> set[str]:
    with registered(cur, wanted=_ids_table(pair_ids)):
        rows = cur.execute("SELECT p.id FROM pairs p JOIN wanted w USING (id)").fetchall()
    return {row[0] for row in rows}


def stored_response_ids(cur: duckdb.DuckDBPyConnection, item_ids: Sequence[str]) -> pa.Array:
    """Ids of the stored responses of `item_ids`, as an Arrow array (to filter new rows by)."""
    with registered(cur, wanted=_ids_table(item_ids)):
        found = cur.execute("SELECT r.id FROM responses r JOIN wanted w ON w.id = r.item_id").to_arrow_table()
    return found.column(0).combine_chunks()


def stored_pair_ids_among(cur: duckdb.DuckDBPyConnection, pair_ids: pa.Array) -> pa.Array:
    import pyarrow as pa

    with registered(cur, wanted=pa.table({"id": pair_ids})):
        found = cur.execute("SELECT p.id FROM pairs p JOIN wanted w USING (id)").to_arrow_table()
    return found.column(0).combine_chunks()


def _table(rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {name: pa.array([row[n] for row in rows], type=pa.string()) for n, name in enumerate(columns)}
    )


def insert_import(
    cur: duckdb.DuckDBPyConnection,
    *,
    import_id: str,
    dataset: str,
    format_name: str,
    sources: list[dict[str, Any]],
    items: Sequence[Sequence[Any]],
    responses: Sequence[Sequence[Any]],
    pairs: Sequence[Sequence[Any]],
    now: datetime,
) -> None:
    """Insert new rows (already known not to exist) and the import's own record."""
    insert_rows(
        cur,
        import_id=import_id,
        items=_table(items, ITEM_COLUMNS),
        responses=_table(responses, RESPONSE_COLUMNS),
        pairs=_table(pairs, PAIR_COLUMNS),
        now=now,
    )
    insert_import_record(
        cur,
        import_id=import_id,
        dataset=dataset,
        format_name=format_name,
        sources=sources,
        added=(len(items), len(responses), len(pairs)),
        now=now,
    )


def insert_rows(
    cur: duckdb.DuckDBPyConnection,
    *,
    import_id: str,
    now: datetime,
    items: pa.Table | None = None,
    responses: pa.Table | None = None,
    pairs: pa.Table | None = None,
) -> None:
    """New rows from Arrow tables (ITEM_COLUMNS, RESPONSE_COLUMNS, PAIR_COLUMNS), one statement
    per table given. An import may store its responses chunk by chunk inside its transaction;
    items and pairs take numbers from sequences, which a rollback does not give back, so they
    are best stored once nothing can fail any more."""
    if items is not None:
        with registered(cur, new_items=items):
            cur.execute(
                "INSERT INTO items (id, dataset, source_id, prompt, prompt_hash, group_key, metadata, "
                "import_id, created_at) SELECT id, dataset, source_id, prompt, prompt_hash, group_key, "
                "metadata, ?, ? FROM new_items",
                [import_id, now],
            )
    if responses is not None:
        with registered(cur, new_responses=responses):
            cur.execute(
                "INSERT INTO responses (id, item_id, model, content, metadata, import_id, created_at) "
                "SELECT id, item_id, model, content, metadata, ?, ? FROM new_responses",
                [import_id, now],
            )
    if pairs is not None:
        with registered(cur, new_pairs=pairs):
            cur.execute(
                "INSERT INTO pairs (id, item_id, response_a_id, response_b_id, metadata, import_id, "
                "created_at) SELECT id, item_id, response_a_id, response_b_id, metadata, ?, ? FROM new_pairs",
                [import_id, now],
            )


def insert_import_record(
    cur: duckdb.DuckDBPyConnection,
    *,
    import_id: str,
    dataset: str,
    format_name: str,
    sources: list[dict[str, Any]],
    added: tuple[int, int, int],
    now: datetime,
) -> None:
    """The import's own record: its sources and how many items, responses and pairs it added."""
    cur.execute(
        "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [import_id, dataset, format_name, json.dumps(sources), *added, now],
    )


def _item(row: tuple[Any, ...]) -> Item:
    item_id, dataset, prompt, group_key, metadata = row
    return Item(item_id, dataset, messages_from_json(prompt), group_key, json.loads(metadata))


def _response(row: tuple[Any, ...]) -> Response:
    response_id, item_id, model, content, metadata = row
    return Response(response_id, item_id, model, content, json.loads(metadata))


def get_item(cur: duckdb.DuckDBPyConnection, item_id: str) -> Item | None:
    row = cur.execute(
        "SELECT id, dataset, prompt, group_key, metadata FROM items WHERE id = ?", [item_id]
    ).fetchone()
    return _item(row) if row else None


def get_responses(cur: duckdb.DuckDBPyConnection, response_ids: Sequence[str]) -> dict[str, Response]:
    with registered(cur, wanted=_ids_table(response_ids)):
        rows = cur.execute(
            "SELECT r.id, r.item_id, r.model, r.content, r.metadata FROM responses r JOIN wanted w USING (id)"
        ).fetchall()
    return {row[0]: _response(row) for row in rows}


def get_pair(cur: duckdb.DuckDBPyConnection, pair_id: str) -> Pair | None:
    row = cur.execute(
        "SELECT id, item_id, response_a_id, response_b_id FROM pairs WHERE id = ?", [pair_id]
    ).fetchone()
    return Pair(*row) if row else None


def counts(cur: duckdb.DuckDBPyConnection) -> dict[str, int]:
    row = cur.execute(
        "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM responses), "
        "(SELECT count(*) FROM pairs), (SELECT count(DISTINCT dataset) FROM items)"
    ).fetchone()
    assert row is not None
    return {"items": row[0], "responses": row[1], "pairs": row[2], "datasets": row[3]}
