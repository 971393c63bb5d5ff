"""The judgment log: append-only events, and the queries that read its current state."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import duckdb

if TYPE_CHECKING:
    import pyarrow as pa

from labeling.models import JudgmentKind, PairJudgment, PairVerdict
from store.errors import EventAlreadySuperseded

_PAIR_JUDGMENT_COLUMNS = (
    "id, annotator, item_id, pair_id, left_id, right_id, verdict, rationale, shown_at, submitted_at, strength"
)


def _pair_judgment(row: tuple[Any, ...]) -> PairJudgment:
    return PairJudgment(
        id=row[0],
        annotator=row[1],
        item_id=row[2],
        pair_id=row[3],
        left_id=row[4],
        right_id=row[5],
        verdict=PairVerdict(row[6]),
        rationale=row[7] or "",
        shown_at=row[8],
        submitted_at=row[9],
        strength=row[10],
    )


@dataclass(frozen=True)
class StoredEvent:
    id: str
    kind: str
    annotator: str
    pair_id: str | None
    left_id: str | None
    right_id: str | None
    verdict: str | None
    rationale: str | None
    supersedes: str | None


def get_event(cur: duckdb.DuckDBPyConnection, event_id: str) -> StoredEvent | None:
    row = cur.execute(
        "SELECT id, kind, annotator, pair_id, left_id, right_id, verdict, rationale, supersedes "
        "FROM judgments WHERE id = ?",
        [event_id],
    ).fetchone()
    return StoredEvent(*row) if row else None


def get_pair_judgment(cur: duckdb.DuckDBPyConnection, judgment_id: str) -> PairJudgment | None:
    # The key alone in WHERE: DuckDB then looks it up in the index (2 ms); with `AND kind = ...`
    # it scanned the table (50 ms at 1M judgments).
    row = cur.execute(
        f"SELECT {_PAIR_JUDGMENT_COLUMNS}, kind FROM judgments WHERE id = ?", [judgment_id]
    ).fetchone()
    return _pair_judgment(row) if row and row[-1] == JudgmentKind.PAIR.value else None


def insert_pair_judgment(cur: duckdb.DuckDBPyConnection, judgment: PairJudgment) -> int:
    """Append one pair judgment; returns its seq. A stored id is an engine error (DuplicateId
    once it leaves the writer): `ON CONFLICT DO NOTHING` would spare the error, but it made each
    insert ~4 times slower (1.6 -> 6.2 ms), and retries are rare."""
    row = cur.execute(
        "INSERT INTO judgments (id, kind, annotator, item_id, pair_id, left_id, right_id, verdict, "
        "rationale, tags, shown_at, submitted_at, strength) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "RETURNING seq",
        [
            judgment.id,
            JudgmentKind.PAIR.value,
            judgment.annotator,
            judgment.item_id,
            judgment.pair_id,
            judgment.left_id,
            judgment.right_id,
            judgment.verdict.value,
            judgment.rationale or None,
            json.dumps([]),
            judgment.shown_at,
            judgment.submitted_at,
            judgment.strength,
        ],
    ).fetchone()
    assert row is not None
    return int(row[0])


def append_pair_judgments(cur: duckdb.DuckDBPyConnection, judgments: list[PairJudgment]) -> None:
    """Append many pair judgments in one statement (seeding, restores, benchmarks)."""
    import pyarrow as pa

    columns = {
        "id": [j.id for j in judgments],
        "annotator": [j.annotator for j in judgments],
        "item_id": [j.item_id for j in judgments],
        "pair_id": [j.pair_id for j in judgments],
        "left_id": [j.left_id for j in judgments],
        "right_id": [j.right_id for j in judgments],
        "verdict": [j.verdict.value for j in judgments],
        "rationale": [j.rationale or None for j in judgments],
        "shown_at": [j.shown_at for j in judgments],
        "submitted_at": [j.submitted_at for j in judgments],
    }
    cur.register("new_judgments", pa.table(columns))
    try:
        cur.execute(
            "INSERT INTO judgments (id, kind, annotator, item_id, pair_id, left_id, right_id, verdict, "
            "rationale, tags, shown_at, submitted_at) SELECT id, 'pair', annotator, item_id, pair_id, "
            "left_id, right_id, verdict, rationale, '[]', shown_at, submitted_at FROM new_judgments"
        )
    finally:
        cur.unregister("new_judgments")


def insert_undo(
    cur: duckdb.DuckDBPyConnection, *, undo_id: str, annotator: str, undone: PairJudgment, now: datetime
) -> int:
    """Append an undo of `undone` (inside a transaction: two rows); returns its seq. The store
    refuses a second event superseding one event (EventAlreadySuperseded): a judgment is
    withdrawn once."""
    try:
        cur.execute("INSERT INTO superseded VALUES (?, ?)", [undone.id, undo_id])
    except duckdb.ConstraintException as exc:
        raise EventAlreadySuperseded(
            f"judgment {undone.id!r} was already withdrawn by another undo: nothing was written"
        ) from exc
    row = cur.execute(
        "INSERT INTO judgments (id, kind, annotator, item_id, pair_id, supersedes, submitted_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq",
        [undo_id, JudgmentKind.UNDO.value, annotator, undone.item_id, undone.pair_id, undone.id, now],
    ).fetchone()
    assert row is not None
    return int(row[0])


def last_current_judgment(cur: duckdb.DuckDBPyConnection, annotator: str) -> PairJudgment | None:
    """The annotator's most recent pair judgment that is still in force: their latest pair
    judgment that nothing supersedes (which is also the latest of its pair: the view's rule).

    Undo runs this under the write lock, so it is quick for anyone: the ids of the annotator's
    latest judgments first, then the one in force by its id (~8 ms for an annotator with 100k
    judgments among 1M; the view took 150 ms). Only when all of those were withdrawn does it look
    through all of theirs (~50 ms)."""
    recent = [
        judgment_id
        for (judgment_id,) in cur.execute(
            "SELECT id FROM judgments WHERE annotator = ? AND kind = 'pair' ORDER BY seq DESC LIMIT ?",
            [annotator, _RECENT],
        ).fetchall()
    ]
    withdrawn = {
        event_id
        for (event_id,) in cur.execute(
            "SELECT event_id FROM superseded WHERE list_contains(?::VARCHAR[], event_id)", [recent]
        ).fetchall()
    }
    latest = next((judgment_id for judgment_id in recent if judgment_id not in withdrawn), None)
    if latest is not None:
        return get_pair_judgment(cur, latest)
    if len(recent) < _RECENT:
        return None
    row = cur.execute(
        f"SELECT {_PAIR_JUDGMENT_COLUMNS} FROM judgments j WHERE annotator = ? AND kind = 'pair' "
        "AND NOT EXISTS (SELECT 1 FROM superseded s WHERE s.event_id = j.id) "
        "ORDER BY seq DESC LIMIT 1",
        [annotator],
    ).fetchone()
    return _pair_judgment(row) if row else None


_RECENT = 64  # the annotator's latest judgments looked at first


_BATCH_ROWS = 65_536  # rows turned into Python objects at a time: caps the extra memory


class PairBallot(NamedTuple):
    """One judged pair as an export selects it: ids and votes, and where its texts are (rowids of
    its item and responses, read per batch with prompts_by_row / responses_by_row)."""

    pair_id: str
    item_id: str
    group_key: str
    response_a_id: str
    response_b_id: str
    votes: tuple[str, ...]  # per annotator in force: a preferred response id, "tie" or "both_bad"
    strengths: tuple[int | None, ...]  # per vote, in the same order: how much better, if said
    item_row: int
    response_a_row: int
    response_b_row: int


_PAIR_BALLOTS = """
    WITH votes AS (
        SELECT pair_id,
               list_sort(list({'annotator': annotator,
                               'vote': CASE verdict WHEN 'left' THEN left_id WHEN 'right' THEN right_id
                                       ELSE verdict END,
                               'strength': strength})) AS ballots
        FROM current_pair_judgments GROUP BY pair_id
    )
    SELECT p.id, p.item_id, i.group_key, p.response_a_id, p.response_b_id,
           list_transform(v.ballots, b -> b.vote), list_transform(v.ballots, b -> b.strength),
           i.rowid, ra.rowid, rb.rowid
    FROM votes v
    JOIN pairs p ON p.id = v.pair_id
    JOIN items i ON i.id = p.item_id
    JOIN responses ra ON ra.id = p.response_a_id
    JOIN responses rb ON rb.id = p.response_b_id
    WHERE len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], i.dataset)
    ORDER BY p.seq
"""


def pair_ballots(cur: duckdb.DuckDBPyConnection, datasets: tuple[str, ...] = ()) -> Iterator[PairBallot]:
    """Votes in force per pair without the texts, streamed: every pair with a vote in force (of the given
    datasets, if any), in the pairs' import order. One vote per annotator (their latest pair
    judgment that nothing supersedes), listed in annotator order. Read it and the texts in one
    transaction: rowids name rows of one snapshot."""
    reader = cur.execute(_PAIR_BALLOTS, [list(datasets), list(datasets)]).to_arrow_reader(_BATCH_ROWS)
    for batch in reader:
        columns = [column.to_pylist() for column in batch.columns]
        columns[5] = list(map(tuple, columns[5]))
        columns[6] = list(map(tuple, columns[6]))
        yield from map(PairBallot._make, zip(*columns, strict=True))


def _texts_by_row(cur: duckdb.DuckDBPyConnection, sql: str, rows: Iterable[int]) -> dict[int, str]:
    import pyarrow as pa

    wanted = sorted(set(rows))
    if not wanted:
        return {}
    cur.register("wanted_rows", pa.table({"row": pa.array(wanted, type=pa.int64())}))
    try:
        # The rowid range lets DuckDB skip the row groups outside it: a batch of an export reads
        # the part of the table its rows are in, not the whole table.
        table = cur.execute(sql, [wanted[0], wanted[-1]]).to_arrow_table()
    finally:
        cur.unregister("wanted_rows")
    return dict(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))


def prompts_by_row(cur: duckdb.DuckDBPyConnection, rows: Iterable[int]) -> dict[int, str]:
    """The prompt JSON of the items at these rowids (PairBallot.item_row)."""
    return _texts_by_row(
        cur,
        "SELECT t.rowid, t.prompt::VARCHAR FROM items t SEMI JOIN wanted_rows w ON t.rowid = w.row "
        "WHERE t.rowid BETWEEN ? AND ?",
        rows,
    )


def responses_by_row(cur: duckdb.DuckDBPyConnection, rows: Iterable[int]) -> dict[int, str]:
    """The content of the responses at these rowids (PairBallot.response_a_row / _b_row)."""
    return _texts_by_row(
        cur,
        "SELECT t.rowid, t.content FROM responses t SEMI JOIN wanted_rows w ON t.rowid = w.row "
        "WHERE t.rowid BETWEEN ? AND ?",
        rows,
    )


_IN_DATASETS = (
    "(len(?::VARCHAR[]) = 0 OR item_id IN (SELECT id FROM items WHERE list_contains(?::VARCHAR[], dataset)))"
)


def log_summary(cur: duckdb.DuckDBPyConnection, datasets: tuple[str, ...] = ()) -> dict[str, Any]:
    """Counts over the log, and a hash of the judgments in force (for manifests), of the items of
    the given datasets (all when empty): what an export's manifest counts and hashes is what it
    read, not the whole log. (Undone by the `supersedes` column: it also reads stores from
    before migration 0007's `superseded` table, as the migration test exports them.)"""
    scope = [list(datasets), list(datasets)]
    row = cur.execute(
        f"""
        WITH scoped AS MATERIALIZED (
            SELECT id, pair_id FROM judgments WHERE kind = 'pair' AND {_IN_DATASETS}
        ),
        in_force AS MATERIALIZED (
            SELECT id, pair_id, verdict FROM current_pair_judgments WHERE {_IN_DATASETS}
        )
        SELECT
          (SELECT count(*) FROM scoped),
          (SELECT count(*) FROM in_force),
          (SELECT count(*) FROM scoped j
             WHERE EXISTS (SELECT 1 FROM judgments u WHERE u.kind = 'undo' AND u.supersedes = j.id)),
          (SELECT count(DISTINCT pair_id) FROM scoped WHERE pair_id NOT IN (SELECT pair_id FROM in_force)),
          (SELECT coalesce(sha256(string_agg(id || ':' || verdict, ',' ORDER BY id)), '') FROM in_force)
        """,
        scope + scope,
    ).fetchone()
    assert row is not None
    return {
        "pair_judgments_logged": int(row[0]),
        "pair_judgments_in_force": int(row[1]),
        "pair_judgments_undone": int(row[2]),
        "pairs_with_every_judgment_undone": int(row[3]),
        "judgments_sha256": row[4],
    }


def verdict_counts(cur: duckdb.DuckDBPyConnection) -> dict[str, int]:
    rows = cur.execute("SELECT verdict, count(*) FROM current_pair_judgments GROUP BY verdict").fetchall()
    return {verdict: int(n) for verdict, n in rows}


def annotator_counts(cur: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    rows = cur.execute(
        "SELECT annotator, verdict, count(*) FROM current_pair_judgments GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    result: dict[str, dict[str, int]] = {}
    for annotator, verdict, n in rows:
        result.setdefault(annotator, {})[verdict] = int(n)
    return result


def judged_pairs_per_dataset(cur: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """Every dataset of the store: how many of its pairs have a judgment in force, and how many
    were judged but have every judgment undone."""
    rows = cur.execute(
        """
        WITH in_force AS MATERIALIZED (SELECT DISTINCT item_id, pair_id FROM current_pair_judgments),
        undone AS (
            SELECT DISTINCT item_id, pair_id FROM judgments
            WHERE kind = 'pair' AND pair_id NOT IN (SELECT pair_id FROM in_force)
        )
        SELECT i.dataset,
               (SELECT count(*) FROM in_force f JOIN items x ON x.id = f.item_id WHERE x.dataset = i.dataset),
               (SELECT count(*) FROM undone u JOIN items x ON x.id = u.item_id WHERE x.dataset = i.dataset)
        FROM (SELECT DISTINCT dataset FROM items) i
        """
    ).fetchall()
    return {dataset: (int(judged), int(undone)) for dataset, judged, undone in rows}


def judgments_in_force_table(cur: duckdb.DuckDBPyConnection, datasets: tuple[str, ...] = ()) -> pa.Table:
    """Every pair judgment in force (of the given datasets, if any), in the order they were made,
    with the models of the responses shown on each side, as an Arrow table."""
    return cur.execute(
        """
        SELECT j.id AS judgment_id, j.item_id, j.pair_id, i.dataset, j.annotator, j.verdict,
               j.left_id AS left_response_id, rl.model AS left_model,
               j.right_id AS right_response_id, rr.model AS right_model,
               j.strength, j.rationale, j.shown_at, j.submitted_at
        FROM current_pair_judgments j
        JOIN items i ON i.id = j.item_id
        JOIN responses rl ON rl.id = j.left_id
        JOIN responses rr ON rr.id = j.right_id
        WHERE len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], i.dataset)
        ORDER BY j.seq
        """,
        [list(datasets), list(datasets)],
    ).to_arrow_table()
