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
from store.errors import StoreError

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
    """Arrow tables visible to SQL under the given names for the duration of the block. Inside
    a transaction, DuckDB keeps a registered table (the view it was read through) until the
    commit: bulk writes read their Arrow tables by a local name instead (insert_rows)."""
    for name, table in tables.items():
        cur.register(name, table)
    try:
        yield
    finally:
        for name in tables:
            cur.unregister(name)


# The functions below, which an import calls chunk after chunk inside its one transaction, give
# DuckDB their Arrow tables as local variables that the SQL names (DuckDB reads a Python local
# by its name): a registered table would be kept until the commit, every chunk's rows held twice
# over (about 1.5 GB more RSS at a million pairs, docs/performance.md).


def prompt_hashes(cur: duckdb.DuckDBPyConnection, item_ids: Sequence[str]) -> dict[str, str]:
    """prompt_hash of each already-stored item among `item_ids`."""
    wanted = _ids_table(item_ids)  # noqa: F841 (read by name in the SQL)
    rows = cur.execute("SELECT i.id, i.prompt_hash FROM items i JOIN wanted w ON w.id = i.id").fetchall()
    return {row[0]: row[1] for row in rows}


def responses_of(cur: duckdb.DuckDBPyConnection, item_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """(response id, content) of stored responses for each of `item_ids`, oldest first."""
    wanted = _ids_table(item_ids)  # noqa: F841 (read by name in the SQL)
    rows = cur.execute(
        "SELECT r.item_id, r.id, r.content FROM responses r JOIN wanted w ON w.id = r.item_id "
        "ORDER BY r.created_at, r.id"
    ).fetchall()
    found: dict[str, list[tuple[str, str]]] = {}
    for item_id, response_id, content in rows:
        found.setdefault(item_id, []).append((response_id, content))
    return found


def stored_pair_ids(cur: duckdb.DuckDBPyConnection, pair_ids: Sequence[str]) -> set[str]:
    wanted = _ids_table(pair_ids)  # noqa: F841 (read by name in the SQL)
    rows = cur.execute("SELECT p.id FROM pairs p JOIN wanted w USING (id)").fetchall()
    return {row[0] for row in rows}


def stored_response_ids(cur: duckdb.DuckDBPyConnection, item_ids: Sequence[str]) -> pa.Array:
    """Ids of the stored responses of `item_ids`, as an Arrow array (to filter new rows by)."""
    wanted = _ids_table(item_ids)  # noqa: F841 (read by name in the SQL)
    found = cur.execute("SELECT r.id FROM responses r JOIN wanted w ON w.id = r.item_id").to_arrow_table()
    return found.column(0).combine_chunks()


def stored_pair_ids_among(cur: duckdb.DuckDBPyConnection, pair_ids: pa.Array) -> pa.Array:
    import pyarrow as pa

    wanted = pa.table({"id": pair_ids})  # noqa: F841 (read by name in the SQL)
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
    are best stored once nothing can fail any more, or with provisional numbers (a `seq` column,
    from provisional_numbers; number_items gives them theirs at the end)."""
    if items is not None:
        new_items = items  # noqa: F841 (read by name in the SQL)
        seq = ", seq" if "seq" in items.column_names else ""
        cur.execute(
            f"INSERT INTO items (id, dataset, source_id, prompt, prompt_hash, group_key, metadata{seq}, "
            "import_id, created_at) SELECT id, dataset, source_id, prompt, prompt_hash, group_key, "
            f"metadata{seq}, ?, ? FROM new_items",
            [import_id, now],
        )
    if responses is not None:
        new_responses = responses  # noqa: F841 (read by name in the SQL)
        cur.execute(
            "INSERT INTO responses (id, item_id, model, content, metadata, import_id, created_at) "
            "SELECT id, item_id, model, content, metadata, ?, ? FROM new_responses",
            [import_id, now],
        )
    if pairs is not None:
        new_pairs = pairs  # noqa: F841 (read by name in the SQL)
        cur.execute(
            "INSERT INTO pairs (id, item_id, response_a_id, response_b_id, metadata, import_id, "
            "created_at) SELECT id, item_id, response_a_id, response_b_id, metadata, ?, ? FROM new_pairs",
            [import_id, now],
        )


def provisional_numbers(count: int, stored: int) -> pa.Array:
    """Numbers for `count` new items after `stored` others of the same import: -1, -2, ... in
    file order, until number_items gives them theirs."""
    import pyarrow as pa

    return pa.array(range(-1 - stored, -1 - stored - count, -1), pa.int64())


def number_items(cur: duckdb.DuckDBPyConnection, import_id: str, count: int) -> None:
    """Give the `count` items an import stored with provisional numbers their numbers (the order
    they are served in) from item_seq, in file order. A sequence is not rolled back, so an import
    takes its numbers once nothing can refuse it any more; it runs on the store's one writer, so
    nothing else takes one meanwhile. (DuckDB does not tell a sequence's next value reliably
    without taking it: after a reopen it reports that value as its last.)"""
    if count == 0:
        return
    row = cur.execute(
        "SELECT min(n), max(n) FROM (SELECT nextval('item_seq') AS n FROM range(?))", [count]
    ).fetchone()
    assert row is not None
    first, last = row
    if last - first != count - 1:
        raise StoreError(f"the item numbers {first}..{last} are not {count} in a row; nothing was written")
    cur.execute("UPDATE items SET seq = ? - 1 - seq WHERE import_id = ? AND seq < 0", [first, import_id])


@contextmanager
def bulk_writing(cur: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB on one thread for a bulk write, then as before (the commit runs after, as set
    before). An import's inserts into keyed tables cost less CPU on one thread than on two, and
    the other core reads and checks the next records meanwhile (docs/performance.md, Import).
    DuckDB's setting is the database's: reads that run meanwhile get one thread too."""
    row = cur.execute("SELECT current_setting('threads')").fetchone()
    threads = int(row[0]) if row is not None else 1
    cur.execute("SET threads = 1")
    try:
        yield
    finally:
        # On a cursor of its own: after an engine error this one's transaction is aborted and
        # refuses every statement (which would hide that error and keep one thread for good),
        # and the setting is the database's, not the transaction's.
        other = cur.cursor()
        try:
            other.execute(f"SET threads = {threads:d}")
        finally:
            other.close()


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
