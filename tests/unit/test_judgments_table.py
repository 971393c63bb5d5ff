"""`prefdesk export judgments`: one row per judgment in force, loadable with pandas, matching
what the annotators did (undone judgments absent, a judgment made again only in its last form)."""

from __future__ import annotations

import itertools
import json
import math
import os
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from apps.cli import main
from labeling.desk import Desk, ShownPair
from labeling.ingest import import_files
from labeling.models import Showing
from store.db import open_store
from tests.conftest import write_jsonl

GOLDEN = Path(__file__).parent.parent / "data" / "golden"

SUPPORT = [
    {
        "id": f"s{n}",
        "prompt": question,
        "responses": [{"model": "bot-v1", "content": good}, {"model": "bot-v2", "content": bad}],
    }
    for n, (question, good, bad) in enumerate(
        [
            ("Can I return an ebook?", "Yes, within 14 days of purchase.", "No."),
            ("Where is my parcel?", "It left the warehouse today.", "Somewhere."),
            ("Do you ship to Norway?", "Yes, in 3-5 working days.", "Maybe."),
        ]
    )
]
BILLING = [
    {
        "id": "b0",
        "prompt": "Why was I charged twice?",
        "responses": [
            {"model": "bot-v1", "content": "One charge is a pre-authorisation; it drops off in 3 days."},
            {"model": "bot-v3", "content": "Contact your bank."},
        ],
    }
]


def clock(start: datetime = datetime(2026, 11, 23, 9, 0, 0, 250)) -> Callable[[], datetime]:
    ticks = itertools.count()
    return lambda: start + timedelta(seconds=next(ticks))


def stamp(value: datetime) -> str:
    return f"{value:%Y-%m-%dT%H:%M:%S.%f}Z"


class Session:
    """Drives the desk as annotators would, and writes down, apart from the store, the row each
    judgment in force should have."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.rows: dict[str, dict[str, Any]] = {}  # judgment id -> expected row, in judging order
        self.last: dict[str, tuple[str, Showing]] = {}

    def judge(
        self,
        annotator: str,
        judgment_id: str,
        verdict: str,
        *,
        strength: int | None = None,
        rationale: str = "",
        showing: Showing | None = None,
    ) -> None:
        showing = showing or self.desk.next_showing(annotator)
        assert showing is not None
        recorded = self.desk.submit(
            annotator,
            ShownPair.of(showing),
            verdict,
            strength=strength,
            rationale=rationale,
            judgment_id=judgment_id,
        )
        stored_id = f"{annotator}/{judgment_id}"  # client ids are each annotator's own
        self.rows[stored_id] = {
            "judgment_id": stored_id,
            "item_id": showing.item.id,
            "pair_id": showing.pair.id,
            "dataset": showing.item.dataset,
            "annotator": annotator,
            "verdict": verdict,
            "left_response_id": showing.left.id,
            "left_model": showing.left.model,
            "right_response_id": showing.right.id,
            "right_model": showing.right.model,
            "preferred_model": {"left": showing.left.model, "right": showing.right.model}.get(verdict),
            "strength": strength,
            "rationale": rationale,
            "shown_at": stamp(showing.shown_at),
            "submitted_at": stamp(recorded.judgment.submitted_at),
        }
        self.last[annotator] = (stored_id, showing)

    def undo(self, annotator: str, undo_id: str) -> Showing:
        undone = self.desk.undo(annotator, undo_id)
        judgment_id, showing = self.last.pop(annotator)
        assert undone.id == judgment_id
        del self.rows[judgment_id]
        return showing


@pytest.fixture
def judged_db(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A store file judged by ana and bob, and the rows its judgments in force should give."""
    db = tmp_path / "desk.duckdb"
    store = open_store(db)
    import_files(store, [write_jsonl(tmp_path / "support.jsonl", SUPPORT)], dataset="support")
    import_files(store, [write_jsonl(tmp_path / "billing.jsonl", BILLING)], dataset="billing")
    session = Session(Desk(store, now=clock(), rng=random.Random(7)))
    session.judge("ana", "judgment-ana-1", "left", strength=2, rationale="cites the 14-day policy")
    session.judge("ana", "judgment-ana-2", "right")
    shown = session.undo("ana", "undo-ana-2")  # changed her mind: the pair again, the same sides
    session.judge("ana", "judgment-ana-2b", "tie", showing=shown)
    session.judge("ana", "judgment-ana-3", "both_bad")
    session.judge("ana", "judgment-ana-4", "left", rationale='says "sorry", then:\nthe fix, step by step')
    session.judge("bob", "judgment-bob-1", "right", strength=1)
    session.undo("bob", "undo-bob-1")  # withdrawn, not replaced
    session.judge("bob", "judgment-bob-2", "right", strength=3)
    store.close()
    return db, list(session.rows.values())


def canonical(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain values whatever the file type: no NaN, whole-number strengths, times as
    RFC 3339 text."""
    rows = []
    for record in frame.to_dict("records"):
        row = {}
        for key, value in record.items():
            if isinstance(value, float) and math.isnan(value):
                value = None
            elif isinstance(value, pd.Timestamp):
                assert str(value.tz) == "UTC"
                value = f"{value:%Y-%m-%dT%H:%M:%S.%f}Z"
            elif key == "strength" and value is not None:
                value = int(value)
            row[key] = value
        rows.append(row)
    return rows


LOADERS = {
    "csv": lambda path: pd.read_csv(path, dtype={"rationale": str}, keep_default_na=False, na_values=[""]),
    "parquet": pd.read_parquet,
    "jsonl": lambda path: pd.read_json(path, lines=True, dtype=False),
}


@pytest.mark.parametrize("target", ["csv", "parquet", "jsonl"])
def test_pandas_reads_one_row_per_judgment_in_force(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    judged_db: tuple[Path, list[dict[str, Any]]],
    target: str,
) -> None:
    db, expected = judged_db
    assert len(expected) == 5  # 7 judgments made, 2 undone (one of them made again)
    out = tmp_path / target
    code = main(["export", "judgments", "--target", target, "--db", str(db), "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    assert stdout.startswith(f"wrote 5 judgment(s) in force to {out / f'judgments.{target}'}\n")
    frame = LOADERS[target](out / f"judgments.{target}")
    rows = canonical(frame)
    for row in expected:  # CSV cannot tell an empty rationale from none
        if target == "csv" and row["rationale"] == "":
            row["rationale"] = None
    if target != "csv":
        assert all(row["rationale"] is not None for row in rows)
    assert rows == expected
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["kind"], manifest["target"], manifest["records"]) == ("judgments", target, 5)
    assert manifest["files"] == {"judgments": f"judgments.{target}"}
    if target == "parquet":
        assert str(frame["submitted_at"].dtype) == "datetime64[us, UTC]"


def test_a_dataset_filter_keeps_that_datasets_rows(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, judged_db: tuple[Path, list[dict[str, Any]]]
) -> None:
    db, expected = judged_db
    billing = [row for row in expected if row["dataset"] == "billing"]
    assert 0 < len(billing) < len(expected)
    out = tmp_path / "billing"
    assert (
        main(
            [
                "export",
                "judgments",
                "--target",
                "jsonl",
                "--db",
                str(db),
                "--out",
                str(out),
                "--dataset",
                "billing",
            ]
        )
        == 0
    )
    rows = canonical(pd.read_json(out / "judgments.jsonl", lines=True, dtype=False))
    assert rows == billing
    capsys.readouterr()
    assert (
        main(
            [
                "export",
                "judgments",
                "--target",
                "csv",
                "--db",
                str(db),
                "--out",
                str(tmp_path / "x"),
                "--dataset",
                "bills",
            ]
        )
        == 1
    )
    assert capsys.readouterr().err == (
        "error: judgments csv would write 0 rows: --dataset 'bills' matches no dataset in the store; its "
        "datasets are 'billing' (1 judged pair(s)), 'support' (3 judged pair(s)): name one of those, or leave "
        "--dataset out. Nothing was written; --allow-empty writes it anyway\n"
    )
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("target", ["jsonl", "csv"])
def test_the_rows_match_the_golden_files(
    tmp_path: Path, judged_db: tuple[Path, list[dict[str, Any]]], target: str
) -> None:
    db, _ = judged_db
    assert (
        main(["export", "judgments", "--target", target, "--db", str(db), "--out", str(tmp_path / "j")]) == 0
    )
    written = (tmp_path / "j" / f"judgments.{target}").read_text(encoding="utf-8")
    golden = GOLDEN / f"judgments.{target}"
    if os.environ.get("PREFDESK_UPDATE_GOLDEN"):
        golden.write_text(written, encoding="utf-8")
    assert written == golden.read_text(encoding="utf-8")
