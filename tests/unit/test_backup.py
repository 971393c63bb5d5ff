"""Backup and restore: the restored store exports byte-identical files; bad backups are refused."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from apps.cli import main
from exports.run import KINDS, ExportOptions, run_export
from labeling.clock import utc_now
from labeling.desk import Desk, ShownPair
from labeling.ingest import import_files
from store.db import latest_schema_version, open_store
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


@pytest.fixture
def backup(judged_db: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "backup"
    assert main(["backup", "--db", str(judged_db), "--out", str(folder)]) == 0
    return folder


def rewrite_manifest(folder: Path, change: Callable[[dict[str, Any]], None]) -> None:
    manifest = json.loads((folder / "backup.json").read_text(encoding="utf-8"))
    change(manifest)
    (folder / "backup.json").write_text(json.dumps(manifest), encoding="utf-8")


def rehash(folder: Path, name: str) -> None:
    """What someone who alters a file and wants it restored does: record its new hash too."""
    digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    if name == "schema.sql":
        rewrite_manifest(folder, lambda manifest: manifest.update(schema_sha256=digest))
    else:
        rewrite_manifest(folder, lambda manifest: manifest["files"].update({name: digest}))


def refused(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Restores `folder`, expecting a refusal that creates nothing; returns what it said."""
    target = tmp_path / "restored.duckdb"
    assert main(["restore", "--from", str(folder), "--db", str(target)]) == 1
    assert not target.exists() and not (tmp_path / "restored.duckdb.wal").exists()
    return capsys.readouterr().err


def sql_quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda text, extra: text + extra, id="statements added at the end"),
        pytest.param(
            lambda text, extra: text.replace("CREATE TABLE users(", extra + "CREATE TABLE users("),
            id="a statement added before a table",
        ),
        pytest.param(
            lambda text, extra: text.replace("START 1 NO CYCLE;;", "START 1 NO CYCLE;; " + extra.strip(), 1),
            id="a statement on a sequence's line",
        ),
    ],
)
def test_a_schema_with_sql_of_its_own_is_refused_and_never_run(
    backup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], tamper: Callable[[str, str], str]
) -> None:
    written = tmp_path / "written-by-the-backup.csv"
    extra = f"COPY (SELECT 'pwned') TO {sql_quoted(written)};;\nCREATE TABLE backdoor(x INTEGER);;\n"
    schema = backup / "schema.sql"
    original = schema.read_text(encoding="utf-8")
    schema.write_text(tamper(original, extra), encoding="utf-8")
    rehash(backup, "schema.sql")
    said = refused(backup, tmp_path, capsys)
    # The first line that differs from the schema as written is the one the refusal names.
    line = next(
        n
        for n, (a, b) in enumerate(
            zip(original.split("\n"), tamper(original, extra).split("\n"), strict=False), 1
        )
        if a != b
    )
    assert said.startswith(
        f"error: {schema}:{line}: this is not the schema prefdesk makes at schema version {latest_schema_version()} (the line reads "
    ), said
    assert said.endswith(
        "): the backup was altered or made by another program, and is not restored; nothing was changed\n"
    )
    assert not written.exists()


def test_a_schema_changed_since_the_backup_is_refused_by_its_hash(
    backup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (backup / "schema.sql").open("a", encoding="utf-8") as handle:
        handle.write("\n")
    assert f"the backup file {backup / 'schema.sql'} is missing or changed" in refused(
        backup, tmp_path, capsys
    )
    (backup / "schema.sql").unlink()
    assert f"{backup / 'schema.sql'} is missing" in refused(backup, tmp_path, capsys)


def test_a_table_name_with_sql_in_the_manifest_is_refused_and_never_run(
    backup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    written = tmp_path / "written-by-the-backup.csv"
    name = f"prefdesk_schema\"; COPY (SELECT 'pwned') TO {sql_quoted(written)}; SELECT count(*) FROM \"prefdesk_schema"
    rewrite_manifest(backup, lambda manifest: manifest["rows"].update({name: 7}))
    said = refused(backup, tmp_path, capsys)
    assert f"backup.json: rows: names no table of this schema: {name!r}: the backup was altered" in said
    assert not written.exists()


def test_a_data_file_for_a_table_the_schema_lacks_is_refused(
    backup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (backup / "users.parquet").rename(backup / "admins.parquet")
    rewrite_manifest(
        backup,
        lambda manifest: manifest["files"].update({"admins.parquet": manifest["files"].pop("users.parquet")}),
    )
    said = refused(backup, tmp_path, capsys)
    assert "backup.json: files: names no table of this schema: 'admins.parquet'; lacks users.parquet" in said


def test_a_data_file_replaced_with_another_shape_is_refused_with_the_reason(
    backup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with duckdb.connect() as other:
        other.execute(
            f"COPY (SELECT 'mallory' AS name) TO {sql_quoted(backup / 'users.parquet')} (FORMAT parquet)"
        )
    rehash(backup, "users.parquet")
    said = refused(backup, tmp_path, capsys)
    assert f"error: the backup in {backup} does not fit the schema it names (" in said
    assert said.rstrip().endswith("): nothing was restored")


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        pytest.param(
            lambda m: m.update(schema_version="7; DROP TABLE users"),
            "schema_version: expected a positive whole number",
            id="schema_version",
        ),
        pytest.param(
            lambda m: m.update(rows=[]), "rows: expected an object of table names and row counts", id="rows"
        ),
        pytest.param(
            lambda m: m["files"].update({"users.parquet": "../../etc/passwd"}),
            "files: expected an object of file names and SHA-256 hashes",
            id="files",
        ),
    ],
)
def test_a_manifest_with_fields_of_the_wrong_type_is_refused(
    backup: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[dict[str, Any]], None],
    complaint: str,
) -> None:
    rewrite_manifest(backup, change)
    assert f"{backup / 'backup.json'}: {complaint}; the backup cannot be restored" in refused(
        backup, tmp_path, capsys
    )


def test_a_backup_made_before_schema_hashes_still_restores(
    backup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rewrite_manifest(backup, lambda manifest: manifest.pop("schema_sha256"))
    assert main(["restore", "--from", str(backup), "--db", str(tmp_path / "restored.duckdb")]) == 0
    assert "judgments 13" in capsys.readouterr().out
