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


_DENSE = 4  # a batch's rows read as one rowid range when it holds at least 1 in _DENSE of the range


def _texts_by_row(
    cur: duckdb.DuckDBPyConnection, table: str, column: str, rows: Iterable[int]
) -> dict[int, str]:
    """{rowid: text} for (at least) these rowids of `table`. A batch of an export is mostly rows
    imported together: when its rows fill a quarter of their rowid range or more, the range is
    scanned as it is (its row groups only, no join: ~10x faster), and the few rows in between come
    along; otherwise only the rows asked for are joined in."""
    import pyarrow as pa

    wanted = sorted(set(rows))
    if not wanted:
        return {}
    first, last = wanted[0], wanted[-1]
    if last - first < _DENSE * len(wanted):
        result = cur.execute(
            f"SELECT rowid, {column} FROM {table} WHERE rowid BETWEEN ? AND ?", [first, last]
        ).to_arrow_table()
    else:
        cur.register("wanted_rows", pa.table({"row": pa.array(wanted, type=pa.int64())}))
        try:
            # The rowid range lets DuckDB skip the row groups outside it.
            result = cur.execute(
                f"SELECT t.rowid, {column} FROM {table} t SEMI JOIN wanted_rows w ON t.rowid = w.row "
                "WHERE t.rowid BETWEEN ? AND ?",
                [first, last],
            ).to_arrow_table()
        finally:
            cur.unregister("wanted_rows")
    return dict(zip(result.column(0).to_pylist(), result.column(1).to_pylist(), strict=True))


def prompts_by_row(cur: duckdb.DuckDBPyConnection, rows: Iterable[int]) -> dict[int, str]:
    """The prompt JSON of the items at (at least) these rowids (PairBallot.item_row)."""
    return _texts_by_row(cur, "items", "prompt::VARCHAR", rows)


def responses_by_row(cur: duckdb.DuckDBPyConnection, rows: Iterable[int]) -> dict[int, str]:
    """The content of the responses at (at least) these rowids (PairBallot.response_a_row / _b_row)."""
    return _texts_by_row(cur, "responses", "content", rows)


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


# Characters Python's str.isspace() counts as blank, beyond the control characters (which JSON
# always escapes).
_BLANK = r"\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
_NOT_BLANK = rf"[^\x{{09}}-\x{{0d}}\x{{1c}}-\x{{1f}}{_BLANK}]"  # a character str.isspace() does not count
# A JSON string as orjson writes it (raw characters, and the short escapes only) that is not
# blank: blanks and blank escapes, one character that is not, then anything.
_TEXT = (
    rf'"(?:[{_BLANK}]|\\[nrtf])*(?:[^"\\\x{{00}}-\x{{1f}}{_BLANK}]|\\["\\b])'
    r'(?:[^"\\\x{00}-\x{1f}]|\\["\\bfnrt])*"'
)
# A stored prompt of plain turns, exactly as orjson writes it (role and content only, in that
# order; a system turn only first, and not alone; texts that are not blank). No capture groups:
# RE2 then matches with its DFA, ~5x faster.
_PLAIN_PROMPT = (
    rf'^\[(?:\{{"role":"system","content":{_TEXT}\}},)?'
    rf'(?:\{{"role":"(?:user|assistant)","content":{_TEXT}\}},)*'
    rf'\{{"role":"(?:LAST)","content":{_TEXT}\}}\]$'
)
_ASSISTANT_TURN = r'(\{"role":"assistant","content":"(?:[^"\\]|\\.)*")\}'
# DuckDB's to_json writes some control characters as \u000B where orjson writes \u000b: an answer
# holding any \u00 escape (or a backslash before u00) is left to the exporter's own JSON writer
# (rare in text, and never wrong: only slower).
_ESCAPE = r"'\u00'"

_RECORD_LINES = f"""
    WITH prompt AS (
        SELECT t.rowid AS row, t.prompt::VARCHAR AS json FROM items t
        SEMI JOIN line_rows w ON t.rowid = w.item_row WHERE t.rowid BETWEEN ? AND ?
    ),
    turns AS (
        SELECT row, regexp_matches(json, '{{plain}}') AS plain,
               substring(json, 2, length(json) - 2) AS turns
        FROM prompt
    ),
    encoded AS (
        SELECT t.rowid AS row, t.content, to_json(t.content)::VARCHAR AS json
        FROM responses t SEMI JOIN text_rows w ON t.rowid = w.row WHERE t.rowid BETWEEN ? AND ?
    ),
    answer AS (
        SELECT row, CASE WHEN regexp_matches(content, '{_NOT_BLANK}') AND NOT contains(json, {_ESCAPE})
                         THEN json END AS text
        FROM encoded
    )
    SELECT CASE WHEN p.plain AND {{condition}} THEN {{line}} END
    FROM line_rows b
    JOIN turns p ON p.row = b.item_row
    LEFT JOIN answer a1 ON a1.row = b.text_1
    LEFT JOIN answer a2 ON a2.row = b.text_2
    ORDER BY b.n
"""
_WEIGHTED_TURNS = f"""regexp_replace(p.turns, '{_ASSISTANT_TURN}', '\\1,"weight":0}}', 'g')"""

# What record_lines can put into a line: the prompt's plain turns as JSON objects joined by commas
# (`turns`; `weighted_turns`: with "weight":0 on assistant turns), and the JSON text of the
# responses at the rows of `text_1` and `text_2`. Any other name is a column of the rows given.
LINE_FIELDS = {
    "turns": "p.turns",
    "weighted_turns": _WEIGHTED_TURNS,
    "text_1": "a1.text",
    "text_2": "a2.text",
}


def record_lines(
    cur: duckdb.DuckDBPyConnection,
    rows: pa.Table,
    parts: tuple[tuple[str, str], ...],
    *,
    last_role: str | None,
    distinct_texts: bool,
) -> pa.Array:
    """One JSONL line per row of `rows` (columns n, item_row, text_1, text_2 and any columns that
    `parts` names), in order: `parts` joined, each ("text", literal) as it is and each
    ("field", name) as LINE_FIELDS says or as the row's column of that name. None for a row whose
    prompt is not plain turns, whose prompt does not end with `last_role` (when given), whose texts
    are blank or not written as is, or whose two texts are equal (`distinct_texts`): the exporter
    builds and checks those itself. An Arrow string array, so that lines reach the file as they
    are (no Python string per line).

    Plain turns: a non-empty list of objects of role and content only, the role system (first
    only), user or assistant, the content a string that is not blank."""
    import pyarrow as pa

    line: list[str] = []
    params: list[Any] = []
    for kind, value in parts:
        if kind == "text":
            line.append("?::VARCHAR")
            params.append(value)
        elif value in LINE_FIELDS:
            line.append(LINE_FIELDS[value])
        elif value in rows.column_names and value not in ("n", "item_row", "text_1", "text_2"):
            line.append(f'b."{value}"')
        else:
            raise ValueError(f"unknown line field {value!r}")
    conditions = ["a1.text IS NOT NULL"]
    if "text_2" in rows.column_names:
        conditions.append("a2.text IS NOT NULL")
        if distinct_texts:
            conditions.append("a1.text <> a2.text")
    else:
        rows = rows.append_column("text_2", pa.nulls(rows.num_rows, pa.int64()))
    if last_role not in (None, "user"):
        raise ValueError(f"a line's prompt ends with the user's turn or with any, not {last_role!r}")
    items = rows.column("item_row").to_pylist()
    texts = [
        row
        for row in rows.column("text_1").to_pylist() + rows.column("text_2").to_pylist()
        if row is not None
    ]
    plain = _PLAIN_PROMPT.replace("LAST", "user" if last_role else "user|assistant")
    sql = (
        _RECORD_LINES.replace("{plain}", plain)
        .replace("{condition}", " AND ".join(conditions))
        .replace("{line}", " || ".join(line))
    )
    # parameters in the order they appear: the two row ranges, the condition, then the line's parts
    ordered = [min(items), max(items), min(texts), max(texts)]
    cur.register("line_rows", rows)
    cur.register("text_rows", pa.table({"row": pa.array(sorted(set(texts)), type=pa.int64())}))
    try:
        result = cur.execute(sql, ordered + params).to_arrow_table()
    finally:
        cur.unregister("line_rows")
        cur.unregister("text_rows")
    return result.column(0).combine_chunks()
