"""Data and files: what one import may ask, what an eval export may carry, which files the desk
sends, who can read the store, and how much one response may cost to render."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from apps.cli import main
from apps.gradio_app.present import MARKDOWN_LIMIT, markdown_html
from exports.checks import promptfoo as check_promptfoo
from exports.options import ExportOptions
from exports.run import run_export
from labeling.clock import utc_now
from labeling.desk import Desk, ShownPair
from labeling.errors import ImportRejected
from labeling.ingest import import_files
from labeling.models import ImportLimits
from store import backup
from store.db import open_store
from tests.app.conftest import RestDesk, judgment_body
from tests.conftest import support_records, write_jsonl


def responses_record(item: str, count: int, prefix: str = "answer") -> dict[str, object]:
    return {
        "id": item,
        "prompt": f"Question {item}?",
        "responses": [{"model": f"m{n}", "content": f"{prefix} {n}"} for n in range(count)],
    }


def item_counts(db: Path) -> tuple[int, int, int]:
    store = open_store(db, read_only=True)
    try:
        with store.cursor() as cur:
            row = cur.execute(
                "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM responses), (SELECT count(*) FROM pairs)"
            ).fetchone()
            assert row is not None
            return int(row[0]), int(row[1]), int(row[2])
    finally:
        store.close()


# --- what one import may ask of the annotators ------------------------------------------------


def test_one_record_cannot_create_half_a_million_pairs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "desk.duckdb"
    assert main(["import", str(write_jsonl(tmp_path / "ok.jsonl", support_records(2))), "--db", str(db)]) == 0
    big = write_jsonl(tmp_path / "big.jsonl", [responses_record("huge", 1000)])
    capsys.readouterr()
    assert main(["import", str(big), "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert (
        f"{big}:1: responses: item 'big/huge' would have 1000 responses, 499,500 pairs to judge; "
        "at most 16 responses per item" in err
    )
    assert "Nothing was imported." in err
    assert item_counts(db) == (2, 4, 2)  # nothing of it stored


def test_the_cap_counts_responses_already_stored_and_can_be_raised(tmp_path: Path) -> None:
    db = tmp_path / "desk.duckdb"
    store = open_store(db)
    try:
        import_files(store, [write_jsonl(tmp_path / "a.jsonl", [responses_record("q", 10)])], dataset="d")
        more = write_jsonl(tmp_path / "b.jsonl", [responses_record("q", 10, prefix="another")])
        with pytest.raises(ImportRejected, match=r"would have 20 responses, 190 pairs to judge; at most 16"):
            import_files(store, [more], dataset="d")
        report = import_files(store, [more], dataset="d", limits=ImportLimits(max_responses_per_item=20))
        assert (report.responses_added, report.pairs_added) == (10, 190 - 45)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("records", "cap", "pairs"),
    [
        # plain `pairs` records, one pair each
        ([{"prompt": f"p{n}", "response_a": f"a{n}", "response_b": f"b{n}"} for n in range(4)], 3, 4),
        # nine responses of one item, all paired
        ([responses_record("nine", 9)], 30, 36),
    ],
    ids=["pairs records", "nine responses all paired"],
)
def test_pairs_per_import_are_capped(
    tmp_path: Path, records: list[dict[str, object]], cap: int, pairs: int
) -> None:
    store = open_store(tmp_path / "desk.duckdb")
    try:
        with pytest.raises(
            ImportRejected, match=f"this import would add {pairs} pairs to judge; at most {cap} per"
        ):
            import_files(
                store, [write_jsonl(tmp_path / "r.jsonl", records)], limits=ImportLimits(max_pairs=cap)
            )
        with store.cursor() as cur:
            assert cur.execute("SELECT count(*) FROM responses").fetchone() == (0,)  # rolled back whole
        report = import_files(store, [tmp_path / "r.jsonl"], limits=ImportLimits(max_pairs=pairs))
        assert report.pairs_added == pairs
    finally:
        store.close()


def test_a_rest_import_of_1000_responses_is_refused(rest_desk: RestDesk) -> None:
    with rest_desk.client("root") as root:
        refused = root.post("/items", json={"dataset": "big", "records": [responses_record("huge", 1000)]})
    assert refused.status_code == 422
    assert "would have 1000 responses, 499,500 pairs to judge" in refused.json()["error"]
    with rest_desk.store.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM items WHERE dataset = 'big'").fetchone() == (0,)


# --- eval exports ---------------------------------------------------------------------------


def test_promptfoo_never_receives_a_file_reference(tmp_path: Path) -> None:
    store = open_store(tmp_path / "desk.duckdb")
    try:
        hostile = [
            {"id": "evil", "prompt": "file://exploit.py", "responses": [
                {"model": "a", "content": "ok"}, {"model": "b", "content": "no"}]},
            {"id": "evil-answer", "prompt": "What now?", "responses": [
                {"model": "a", "content": "  FILE:///etc/passwd"}, {"model": "b", "content": "no"}]},
            {"id": "fine", "prompt": "Is file://x mentioned mid-text?", "responses": [
                {"model": "a", "content": "yes"}, {"model": "b", "content": "no"}]},
        ]  # fmt: skip
        import_files(store, [write_jsonl(tmp_path / "h.jsonl", hostile)], dataset="h")
        desk = Desk(store)
        while (showing := desk.next_showing("ana")) is not None:
            preferred = "left" if showing.left.model == "a" else "right"
            desk.submit("ana", ShownPair.of(showing), preferred)
        manifest = run_export(
            store,
            tmp_path / "out",
            kind="evals",
            target="promptfoo",
            options=ExportOptions(all_items=True),
            now=utc_now,
        )
        lines = (tmp_path / "out" / "evals_promptfoo.jsonl").read_text().splitlines()
        # The hostile prompt is left out; a hostile answer only ever follows the rubric's own words
        # (and sits in metadata, which promptfoo does not read), so it cannot name a file.
        cases = {json.loads(line)["metadata"]["item_id"]: json.loads(line) for line in lines}
        assert sorted(cases) == ["h/evil-answer", "h/fine"]
        assert not cases["h/evil-answer"]["assert"][0]["value"].lstrip().lower().startswith("file://")
        assert manifest["counts"]["left_out_as_promptfoo_file_references"] == 1
        assert any(
            "1 item(s) left out" in warning and "file://" in warning for warning in manifest["warnings"]
        )
    finally:
        store.close()


def test_the_promptfoo_check_refuses_a_file_reference_anywhere_promptfoo_reads() -> None:
    base = {"vars": {"question": "Hi?"}, "assert": [{"type": "llm-rubric", "value": "good"}]}
    assert check_promptfoo(base) is None
    nested = {**base, "vars": {"question": "Hi?", "messages": [{"role": "user", "content": "file://a.js"}]}}
    rubric = {**base, "assert": [{"type": "llm-rubric", "value": "file://rubric.txt"}]}
    for record in (nested, rubric):
        assert check_promptfoo(record) == (
            "a text starts with file://, which promptfoo would load as a file (and run, for .py/.js)"
        )
    assert check_promptfoo({**base, "metadata": {"reference": "file://kept.txt"}}) is None  # not read


# --- which files the desk sends ----------------------------------------------------------------


def test_downloads_serve_only_files_of_exports_the_desk_wrote(rest_desk: RestDesk, tmp_path: Path) -> None:
    with rest_desk.client("ana") as ana:
        shown = ana.get("/pairs/next").json()["pair"]
        assert ana.post("/judgments", json=judgment_body(shown)).status_code == 201
    secret = tmp_path / "secret.txt"
    secret.write_text("server secret")
    with rest_desk.client("root") as root:
        export = root.post("/exports", json={"kind": "dpo", "target": "trl"}).json()
        folder = rest_desk.exports_dir / export["folder"]
        assert root.get(f"/exports/{export['folder']}/dpo_trl.jsonl").status_code == 200
        (folder / "link.txt").symlink_to(secret)  # a link inside a real export
        (rest_desk.exports_dir / "linked").symlink_to(folder)  # a link to a real export
        (rest_desk.exports_dir / "by-hand").mkdir()  # a folder no export was written to
        (rest_desk.exports_dir / "by-hand" / "notes.txt").write_text("not an export")
        (rest_desk.exports_dir / "tmp").symlink_to(tmp_path)
        for path in (
            f"/exports/{export['folder']}/link.txt",
            "/exports/linked/dpo_trl.jsonl",
            "/exports/by-hand/notes.txt",
            "/exports/tmp/secret.txt",
        ):
            refused = root.get(path)
            assert refused.status_code == 404, path
            assert "server secret" not in refused.text and "not an export" not in refused.text


# --- who can read the store --------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_store_its_journal_and_backups_are_the_owners_alone(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask: other files would be 0644
    try:
        db = tmp_path / "desk.duckdb"
        store = open_store(db)
        assert mode(db) == 0o600
        import_files(store, [write_jsonl(tmp_path / "s.jsonl", support_records(3))], dataset="s")
        from labeling import users

        users.add_user(store, "ana", "annotator", "a-long-password", utc_now)
        wal = Path(f"{db}.wal")
        assert wal.exists() and mode(wal) == 0o600
        with store.cursor() as cur:
            cur.execute("CHECKPOINT")  # DuckDB deletes its journal here and makes a new one later
        assert not wal.exists()
        users.add_user(store, "bob", "annotator", "b-long-password", utc_now)
        assert mode(wal) == 0o600
        manifest = backup.write_backup(store, tmp_path / "backup", now=utc_now(), version="test")
        assert mode(tmp_path / "backup") == 0o700
        assert {mode(path) for path in (tmp_path / "backup").iterdir()} == {0o600}
        assert manifest["source"] == "desk.duckdb"
        store.close()
        db.chmod(0o644)  # a store made by an earlier prefdesk
        open_store(db).close()
        assert mode(db) == 0o600
    finally:
        os.umask(old)


def test_manifests_and_cards_name_the_store_not_the_servers_folders(tmp_path: Path) -> None:
    store = open_store(tmp_path / "desk.duckdb")
    try:
        import_files(store, [write_jsonl(tmp_path / "s.jsonl", support_records(2))], dataset="s")
        desk = Desk(store)
        while (showing := desk.next_showing("ana")) is not None:
            desk.submit("ana", ShownPair.of(showing), "left")
        for kind, target in (("dpo", "trl"), ("judgments", "csv")):
            out = tmp_path / f"{kind}-out"
            manifest = run_export(store, out, kind=kind, target=target, now=utc_now)
            assert manifest["store"] == "desk.duckdb"
            for name in ("manifest.json", "README.md"):
                if (out / name).exists():
                    assert str(tmp_path) not in (out / name).read_text(), name
    finally:
        store.close()


# --- what one response may cost to render --------------------------------------------------------


def test_a_huge_response_renders_markdown_up_to_the_cap_and_the_rest_as_text() -> None:
    link = "[docs](https://example.com/a) "
    text = link * (MARKDOWN_LIMIT // len(link) + 2000) + "<script>alert(1)</script> **end**"
    html = markdown_html(text)
    links_in_head = text[:MARKDOWN_LIMIT].count("[docs](")
    assert html.count('<a href="https://example.com/a"') in (links_in_head, links_in_head - 1)  # a cut link
    assert re.search(r"The next [\d,]+ characters are shown as plain text", html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; **end**" in html and "<script>" not in html
    assert markdown_html("**short**") == "<p><strong>short</strong></p>\n"
