"""The eval registry, as a person at the command line meets it: eval sets chosen on purpose,
what they register and what earlier training files already held, training exports that say
what they kept out and why, empty exports refused, and registrations listed and undone."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import duckdb
import pytest

from apps.cli import main
from labeling.desk import Desk, ShownPair
from store.db import migrations, open_store
from tests.conftest import support_records, write_jsonl

WORDS = [
    f"{a}{b}"
    for a in ("ka", "lo", "mi", "nu", "pe", "ro", "si", "tu")
    for b in ("b", "d", "g", "k", "m", "r", "t", "z")
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def judge_everything(db: Path) -> None:
    store = open_store(db)
    desk = Desk(store, rng=random.Random(1))
    while (showing := desk.next_showing("ana")) is not None:
        desk.submit("ana", ShownPair.of(showing), "left")
    store.close()


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    store = open_store(db)
    try:
        with store.cursor() as cur:
            return cur.execute(sql).fetchall()
    finally:
        store.close()


def manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture
def twenty(tmp_path: Path) -> Path:
    """A store file of 20 support items, each pair judged once."""
    db = tmp_path / "desk.duckdb"
    assert main(["import", str(write_jsonl(tmp_path / "s.jsonl", support_records(20))), "--db", str(db)]) == 0
    judge_everything(db)
    return db


def test_an_eval_set_of_every_item_says_what_training_files_held_them_and_can_be_undone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, twenty: Path
) -> None:
    db = str(twenty)
    capsys.readouterr()  # the import's words
    code, out, _ = run(
        capsys, "export", "dpo", "--target", "trl", "--db", db, "--out", str(tmp_path / "dpo1")
    )
    assert code == 0 and out.startswith("wrote 20 record(s)")
    dpo = manifest(tmp_path / "dpo1")
    dpo_named = (
        f"{dpo['export_id'][:8]} (dpo/trl, {tmp_path / 'dpo1'}, {dpo['created_at'][:16].replace('T', ' ')})"
    )

    code, out, err = run(
        capsys, "export", "evals", "--target", "openai-evals", "--db", db, "--out", str(tmp_path / "ev")
    )
    assert (
        code == 1 and "an eval set needs its items chosen: --eval-fraction F" in err and "--all-items" in err
    )
    assert not (tmp_path / "ev").exists()

    code, out, err = run(
        capsys,
        "export",
        "evals",
        "--target",
        "openai-evals",
        "--all-items",
        "--db",
        db,
        "--out",
        str(tmp_path / "ev"),
    )
    assert code == 0
    evals = manifest(tmp_path / "ev")
    set_id = evals["export_id"][:8]
    assert f"  registered 20 eval item(s) as eval set {set_id}: 20 new, 0 already registered\n" in out
    assert f"  20 of them were in earlier training exports: {dpo_named}: 20 item(s)\n" in out
    assert (
        f"warning: 20 of the 20 eval item(s) were in the training files of earlier exports: {dpo_named}"
        in err
    )
    registration = evals["eval_registry"]
    assert (
        registration["items_registered"],
        registration["new"],
        registration["in_earlier_training_exports"],
    ) == (
        20,
        20,
        20,
    )
    assert [e["export_id"] for e in registration["training_exports"]] == [dpo["export_id"]]
    assert any("were in the training files of earlier exports" in w for w in evals["warnings"])

    # Every judged item is an eval item now: a training export would be empty, and is refused.
    set_named = (
        f"{set_id} (evals/openai-evals, {tmp_path / 'ev'}, {evals['created_at'][:16].replace('T', ' ')})"
    )
    code, out, err = run(
        capsys, "export", "dpo", "--target", "trl", "--db", db, "--out", str(tmp_path / "dpo2")
    )
    assert code == 1 and out == ""
    assert err == (
        "error: dpo trl would write 0 records: all 20 record(s) are of items kept out as eval items, registered by "
        f"eval set(s) {set_named}: pass --allow-eval-overlap to train on them anyway, or undo a registration with "
        "`prefdesk evals registry remove ID`. Nothing was written; --allow-empty writes it anyway\n"
    )
    assert not (tmp_path / "dpo2").exists()
    assert query(twenty, "SELECT count(*) FROM exports") == [(2,)]

    code, out, err = run(
        capsys,
        "export",
        "dpo",
        "--target",
        "trl",
        "--allow-empty",
        "--db",
        db,
        "--out",
        str(tmp_path / "dpo2"),
    )
    assert code == 0 and out.startswith("wrote 0 record(s)")
    assert (
        f"  kept out 20 record(s) of 20 item(s) held as eval items by eval set(s) {set_named}: 20 item(s)\n"
        in out
    )
    assert (tmp_path / "dpo2" / "dpo_trl.jsonl").read_text() == ""
    warnings = manifest(tmp_path / "dpo2")["warnings"]
    assert warnings[0].startswith("kept out 20 record(s) of 20 item(s) because eval set(s) registered them")
    assert set_named in warnings[0] and "--allow-eval-overlap" in warnings[0]
    assert "`prefdesk evals registry remove ID`" in warnings[0]
    assert warnings[1].startswith(
        "this export has 0 records (written anyway, --allow-empty): all 20 record(s)"
    )
    assert f"warning: {warnings[0]}\n" in err

    code, out, _ = run(capsys, "evals", "registry", "list", "--db", db)
    created = evals["created_at"][:16].replace("T", " ")
    assert out == (
        f"{set_id}\tevals/openai-evals\t{created}\t20 item(s)\tin force\t{tmp_path / 'ev'}\n"
        "20 item(s) kept out of training by 1 eval set(s) in force\n"
    )
    code, out, _ = run(capsys, "evals", "registry", "remove", set_id[:5], "--db", db)
    assert code == 0
    assert out.startswith(f"removed eval set {set_named}: 20 of its 20 item(s) may be trained on again\n")
    code, out, _ = run(capsys, "evals", "registry", "list", "--db", db)
    assert "\tremoved " in out and out.endswith("0 item(s) kept out of training by 0 eval set(s) in force\n")
    code, _, err = run(capsys, "evals", "registry", "remove", set_id, "--db", db)
    assert code == 1 and "was removed already" in err
    code, out, _ = run(
        capsys, "export", "dpo", "--target", "trl", "--db", db, "--out", str(tmp_path / "dpo3")
    )
    assert code == 0 and out.startswith("wrote 20 record(s)") and "kept out" not in out


def test_an_eval_sample_is_whole_clusters_and_only_it_is_registered(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rng = random.Random(5)
    records = [
        {
            "id": f"c{n:02d}",
            "prompt": " ".join(rng.sample(WORDS, 12)) + "?",
            "responses": [{"model": "a", "content": f"Answer {n}."}, {"model": "b", "content": "No."}],
            "group_key": f"thread-{n // 2}",  # 20 conversations of two items each
        }
        for n in range(40)
    ]
    db = tmp_path / "desk.duckdb"
    main(["import", str(write_jsonl(tmp_path / "c.jsonl", records)), "--db", str(db), "--dataset", "c"])
    judge_everything(db)
    capsys.readouterr()
    evals = (
        "export",
        "evals",
        "--target",
        "openai-evals",
        "--eval-fraction",
        "0.25",
        "--seed",
        "3",
        "--db",
        str(db),
    )
    code, out, _ = run(capsys, *evals, "--out", str(tmp_path / "sample"))
    assert code == 0
    # Whole conversations of two records each until a quarter of the 40 records: exactly 10.
    assert out.startswith(f"wrote 10 record(s) to {tmp_path / 'sample' / 'evals_openai-evals.jsonl'}\n")
    lines = (tmp_path / "sample" / "evals_openai-evals.jsonl").read_text().splitlines()
    sampled = {json.loads(line)["item"]["item_id"] for line in lines}
    threads = {int(item_id.removeprefix("c/c")) // 2 for item_id in sampled}
    assert len(threads) == 5 and sampled == {f"c/c{2 * t + side:02d}" for t in threads for side in (0, 1)}
    sample = manifest(tmp_path / "sample")
    assert sample["split"]["records_not_in_the_sample"] == 30
    set_id = sample["export_id"][:8]
    code, out, _ = run(capsys, "evals", "registry", "list", "--items", "--db", str(db))
    assert out.splitlines()[1:-1] == [f"  {item_id}" for item_id in sorted(sampled)]

    code, out, _ = run(capsys, *evals, "--out", str(tmp_path / "again"))  # the same seed: the same sample
    assert f": 0 new, 10 already registered by {set_id} (evals/openai-evals" in out
    code, out, _ = run(
        capsys, "export", "sft", "--target", "trl", "--db", str(db), "--out", str(tmp_path / "sft")
    )
    assert out.startswith("wrote 30 record(s)")
    assert "  kept out 10 record(s) of 10 item(s) held as eval items by eval set(s) " in out
    trained = {line for line in (tmp_path / "sft" / "sft_trl.jsonl").read_text().splitlines()}
    prompts = {json.loads(line)["item"]["question"] for line in lines}
    assert not any(prompt in line for prompt in prompts for line in trained)


def test_removing_one_of_two_eval_sets_frees_only_what_the_other_does_not_hold(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "desk.duckdb"
    records = support_records(10)
    main(["import", str(write_jsonl(tmp_path / "a.jsonl", records[:6])), "--db", str(db), "--dataset", "a"])
    main(["import", str(write_jsonl(tmp_path / "b.jsonl", records[6:])), "--db", str(db), "--dataset", "b"])
    judge_everything(db)
    base = ("export", "evals", "--target", "promptfoo", "--all-items", "--db", str(db))
    run(capsys, *base, "--out", str(tmp_path / "every"))
    every = manifest(tmp_path / "every")["export_id"][:8]
    code, out, _ = run(capsys, *base, "--dataset", "b", "--out", str(tmp_path / "b-only"))
    b_only = manifest(tmp_path / "b-only")["export_id"][:8]
    assert f"registered 4 eval item(s) as eval set {b_only}: 0 new, 4 already registered by {every} " in out
    assert "  none of them is in an earlier training export\n" in out

    code, out, _ = run(capsys, "evals", "registry", "remove", every, "--db", str(db))
    assert ": 6 of its 10 item(s) may be trained on again\n" in out
    assert f"  4 item(s) stay eval items, held by other eval set(s): {b_only} (evals/promptfoo" in out
    code, out, _ = run(
        capsys, "export", "dpo", "--target", "trl", "--db", str(db), "--out", str(tmp_path / "dpo")
    )
    assert out.startswith("wrote 6 record(s)")
    assert f"  kept out 4 record(s) of 4 item(s) held as eval items by eval set(s) {b_only} (" in out
    assert every not in out


def test_a_store_made_before_export_contents_were_recorded_keeps_its_registrations(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A store at schema version 3: one eval set of two items, and one training export whose items
    nobody recorded. Upgrading keeps the registrations; new eval sets say what they cannot check."""
    db = tmp_path / "old.duckdb"
    connection = duckdb.connect(str(db))
    connection.execute(
        "CREATE TABLE prefdesk_schema (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    for migration in migrations():
        if migration.version <= 3:
            connection.execute(migration.sql)
            connection.execute(
                "INSERT INTO prefdesk_schema VALUES (?, ?, now()::TIMESTAMP)",
                [migration.version, migration.name],
            )
    old_set, old_training = "0ld5e7aa-0000-4000-8000-000000000000", "0ld7ra1n-0000-4000-8000-000000000000"
    for export_id, kind, target in ((old_training, "dpo", "trl"), (old_set, "evals", "oaieval")):
        connection.execute(
            "INSERT INTO exports VALUES (?, ?, ?, ?, '{}', TIMESTAMP '2026-10-01 12:00:00')",
            [export_id, kind, target, f"/old/{kind}"],
        )
    for item_id in ("support/t-001", "support/t-002"):
        connection.execute(
            "INSERT INTO eval_registry VALUES (?, ?, TIMESTAMP '2026-10-01 12:00:00')", [item_id, old_set]
        )
    connection.close()

    assert (
        main(
            [
                "import",
                str(write_jsonl(tmp_path / "s.jsonl", support_records(5))),
                "--db",
                str(db),
                "--dataset",
                "support",
            ]
        )
        == 0
    )
    judge_everything(db)
    capsys.readouterr()
    code, out, _ = run(capsys, "evals", "registry", "list", "--items", "--db", str(db))
    assert out == (
        "0ld5e7aa\tevals/oaieval\t2026-10-01 12:00\t2 item(s)\tin force\t/old/evals\n"
        "  support/t-001\n  support/t-002\n"
        "2 item(s) kept out of training by 1 eval set(s) in force\n"
    )
    code, out, _ = run(
        capsys, "export", "dpo", "--target", "trl", "--db", str(db), "--out", str(tmp_path / "dpo")
    )
    assert out.startswith("wrote 3 record(s)")
    assert (
        "kept out 2 record(s) of 2 item(s) held as eval items by eval set(s) 0ld5e7aa (evals/oaieval, /old/evals"
        in out
    )
    code, _, err = run(
        capsys,
        "export",
        "evals",
        "--target",
        "oaieval",
        "--all-items",
        "--db",
        str(db),
        "--out",
        str(tmp_path / "ev"),
    )
    assert code == 0
    assert (
        "warning: 1 earlier training export(s) were made before prefdesk recorded which items an export holds, so "
        "they could not be checked for these eval items: 0ld7ra1n (dpo/trl, /old/dpo, 2026-10-01 12:00)\n"
    ) in err
