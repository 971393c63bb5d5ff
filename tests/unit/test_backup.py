"""Backup and restore: the restored store exports byte-identical files; bad backups are refused."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from apps.cli import main
from exports.run import KINDS, ExportOptions, run_export
from labeling.clock import utc_now
from labeling.desk import Desk, ShownPair
from labeling.ingest import import_files
from store.db import open_store
from tests.conftest import add_annotators, support_records, write_jsonl


@pytest.fixture
def judged_db(tmp_path: Path) -> Path:
    db = tmp_path / "desk.duckdb"
    store = open_store(db)
    import_files(store, [write_jsonl(tmp_path / "s.jsonl", support_records(12))], dataset="s")
    add_annotators(store, "ana")
    desk = Desk(store, rng=random.Random(2))
    verdicts = iter(["left", "right", "tie", "both_bad"] * 10)
    while (showing := desk.next_showing("ana")) is not None:
        desk.submit("ana", ShownPair.of(showing), next(verdicts), rationale="why not")
    desk.undo("ana")
    store.close()
    return db


def export_everything(db: Path, out: Path) -> dict[str, bytes]:
    store = open_store(db)
    files = {}
    try:
        for kind, targets in KINDS.items():
            for target in targets:
                folder = out / f"{kind}-{target}"
                if kind == "judgments":  # the table as it is: no selection options apply
                    options = ExportOptions()
                elif kind == "evals":
                    options = ExportOptions(all_items=True)
                else:
                    options = ExportOptions(allow_eval_overlap=True, eval_fraction=0.3, seed=4)
                manifest = run_export(store, folder, kind=kind, target=target, options=options, now=utc_now)
                files |= {
                    f"{kind}-{target}/{name}": (folder / name).read_bytes()
                    for name in manifest["files"].values()
                }
    finally:
        store.close()
    return files


def test_a_restored_store_exports_byte_identical_files(
    judged_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backup", "--db", str(judged_db), "--out", str(tmp_path / "backup")]) == 0
    assert "backed up" in capsys.readouterr().out
    moved = tmp_path / "elsewhere"
    (tmp_path / "backup").rename(moved)  # a backup still restores after it is moved
    assert main(["restore", "--from", str(moved), "--db", str(tmp_path / "restored.duckdb")]) == 0
    original = export_everything(judged_db, tmp_path / "a")
    restored = export_everything(tmp_path / "restored.duckdb", tmp_path / "b")
    assert original == restored and len(original) >= 10
    store = open_store(tmp_path / "restored.duckdb")
    try:
        desk = Desk(store)
        assert desk.progress("ana").judged == 11  # the undo survived
        with store.cursor() as cur:
            seq_before = cur.execute("SELECT max(seq) FROM judgments").fetchone()[0]
        showing = desk.next_showing("ana")
        assert showing is not None
        desk.submit("ana", ShownPair.of(showing), "left")  # the log goes on where it stopped
        with store.cursor() as cur:
            assert cur.execute("SELECT max(seq) FROM judgments").fetchone()[0] == seq_before + 1
    finally:
        store.close()


def test_bad_backups_and_targets_are_refused(
    judged_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = tmp_path / "backup"
    main(["backup", "--db", str(judged_db), "--out", str(backup)])
    assert main(["backup", "--db", str(judged_db), "--out", str(backup)]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert main(["restore", "--from", str(backup), "--db", str(judged_db)]) == 1
    assert "exists: restore into a new file" in capsys.readouterr().err
    with (backup / "judgments.parquet").open("ab") as handle:
        handle.write(b"tampered")
    assert main(["restore", "--from", str(backup), "--db", str(tmp_path / "new.duckdb")]) == 1
    assert "judgments.parquet is missing or changed" in capsys.readouterr().err
    assert not (tmp_path / "new.duckdb").exists()
    assert main(["restore", "--from", str(tmp_path), "--db", str(tmp_path / "new.duckdb")]) == 1
    assert "backup.json is missing" in capsys.readouterr().err
