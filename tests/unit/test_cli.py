"""The `prefdesk` command: each subcommand's happy path and its refusals, exit codes included."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from apps.cli import main
from labeling.users import authenticate
from store.db import open_store
from tests.conftest import store_held_by_another_process, support_records, write_jsonl


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "emails.jsonl", support_records(4))


def test_import_twice_then_stats(capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    code, out, _ = run(capsys, "import", str(data), "--db", db, "--dataset", "mail")
    assert code == 0
    assert "4 item(s), 8 response(s), 4 pair(s)" in out
    code, out, _ = run(capsys, "import", str(data), "--db", db, "--dataset", "mail")
    assert code == 0 and out.startswith("nothing new")
    code, out, _ = run(capsys, "stats", "--db", db, "--json")
    stats = json.loads(out)
    assert (stats["items"], stats["responses"], stats["pairs"]) == (4, 8, 4)
    assert stats["judgments"]["in_force"] == 0


def test_a_bad_import_exits_1_with_file_line_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "hi", "responses": [{"model": "a", "content": "x"}, {"model": "b"}]}\n')
    code, _, err = run(capsys, "import", str(bad), "--db", str(tmp_path / "s.duckdb"))
    assert code == 1
    assert f"{bad}:1: responses[1].content: must be a string, got null" in err
    assert "Nothing was imported." in err


def test_users_add_with_password_stdin_stores_a_hash(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: Path
) -> None:
    db = tmp_path / "s.duckdb"
    main(["import", str(data), "--db", str(db)])
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret-pass\n"))
    code, out, _ = run(
        capsys, "users", "add", "ana", "--role", "annotator", "--password-stdin", "--db", str(db)
    )
    assert code == 0 and "added annotator 'ana'" in out
    store = open_store(db)
    try:
        assert authenticate(store, "ana", "s3cret-pass")
        assert not authenticate(store, "ana", "wrong-pass")
        with store.cursor() as cur:
            (stored,) = cur.execute("SELECT password_hash FROM users").fetchone()
        assert "s3cret-pass" not in stored and stored.startswith("scrypt$")
    finally:
        store.close()
    monkeypatch.setattr(sys, "stdin", io.StringIO("other-pass\n"))
    code, _, err = run(capsys, "users", "add", "ana", "--role", "admin", "--password-stdin", "--db", str(db))
    assert code == 1 and "already exists" in err


def test_a_short_password_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: Path
) -> None:
    main(["import", str(data), "--db", str(tmp_path / "s.duckdb")])
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    code, _, err = run(
        capsys,
        "users",
        "add",
        "ana",
        "--role",
        "annotator",
        "--password-stdin",
        "--db",
        str(tmp_path / "s.duckdb"),
    )
    assert code == 1 and "at least 8 characters" in err


def test_an_export_of_nothing_is_refused_unless_allowed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path
) -> None:
    db = str(tmp_path / "s.duckdb")
    run(capsys, "import", str(data), "--db", db)
    export = ("export", "dpo", "--target", "openai", "--db", db, "--out", str(tmp_path / "out"))
    code, out, err = run(capsys, *export)
    assert code == 1 and out == ""
    assert err == (
        "error: dpo openai would write 0 records: no pair has been judged yet: judge some first "
        "(`prefdesk serve`). Nothing was written; --allow-empty writes it anyway\n"
    )
    assert not (tmp_path / "out").exists()
    code, out, err = run(capsys, *export, "--allow-empty")
    assert code == 0
    assert "wrote 0 record(s)" in out and "skipped pairs: tie 0" in out
    assert "at least 10 examples" in err
    assert (
        "warning: this export has 0 records (written anyway, --allow-empty): no pair has been judged" in err
    )
    assert "warning: its files hold no rows: datasets.load_dataset cannot read this folder" in err
    assert (tmp_path / "out" / "dpo_openai.jsonl").read_text() == ""


def test_bad_flags_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "dpo", "--target", "gemini", "--db", str(tmp_path / "s.duckdb"), "--out", "x"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'gemini'" in capsys.readouterr().err


def test_serving_beyond_loopback_without_accounts_is_refused(tmp_path: Path, data: Path) -> None:
    db = tmp_path / "s.duckdb"
    main(["import", str(data), "--db", str(db)])
    result = subprocess.run(
        [sys.executable, "-m", "apps.cli", "serve", "--db", str(db), "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "refusing to serve on 0.0.0.0 without accounts" in result.stderr
    assert "serving" not in result.stdout and "Ctrl+C" not in result.stdout  # refused before announcing


def test_a_store_in_use_is_named_with_its_pid(tmp_path: Path, data: Path) -> None:
    db = tmp_path / "s.duckdb"
    with store_held_by_another_process(db) as holder:
        result = subprocess.run(
            [sys.executable, "-m", "apps.cli", "import", str(data), "--db", str(db)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert f"in use by process {holder.pid}" in result.stderr
        assert "Traceback" not in result.stderr


def test_export_with_a_split_and_a_preview(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from labeling.desk import Desk, ShownPair

    db = tmp_path / "s.duckdb"
    main(["import", str(write_jsonl(tmp_path / "m.jsonl", support_records(20))), "--db", str(db)])
    store = open_store(db)
    desk = Desk(store)
    while (showing := desk.next_showing("ana")) is not None:
        desk.submit("ana", ShownPair.of(showing), "tie" if showing.item.id.endswith("7") else "left")
    store.close()
    template = tmp_path / "chatml.jinja"
    template.write_text("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}")
    capsys.readouterr()
    code, out, _ = run(
        capsys,
        "export",
        "sft",
        "--target",
        "trl",
        "--db",
        str(db),
        "--out",
        str(tmp_path / "o"),
        "--eval-fraction",
        "0.25",
        "--seed",
        "2",
        "--preview",
        "2",
        "--chat-template",
        str(template),
    )
    assert code == 0
    assert "wrote 18 record(s)" in out and "sft_trl.train.jsonl" in out and "sft_trl.eval.jsonl" in out
    assert out.count("----- record") == 2 and "<|assistant|>" in out
    code, _, err = run(
        capsys,
        "export",
        "sft",
        "--target",
        "trl",
        "--db",
        str(db),
        "--out",
        str(tmp_path / "p"),
        "--preview",
        "1",
    )
    assert code == 1 and "--preview needs a chat template" in err
    assert not (tmp_path / "p").exists()  # refused before anything was written
    code, _, err = run(
        capsys,
        *("export", "dpo", "--target", "trl", "--standard", "--db", str(db), "--out", str(tmp_path / "s")),
        *("--preview", "1", "--chat-template", str(template)),
    )
    assert code == 1 and "--preview renders conversational records; --standard writes plain text" in err
    assert not (tmp_path / "s").exists()
    check = open_store(db)
    with check.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM exports").fetchone() == (1,)  # the first export only
    check.close()


NOT_CREATING = (
    ("stats",),
    ("export", "dpo", "--target", "trl", "--out", "out"),
    ("users", "add", "ana", "--role", "annotator", "--password-stdin"),
    ("users", "list"),
    ("tokens", "create", "ana"),
    ("tokens", "list"),
    ("tokens", "revoke", "abc"),
    ("backup", "--out", "backup"),
    ("serve", "--port", "0"),
)


@pytest.mark.parametrize("argv", NOT_CREATING, ids=lambda argv: " ".join(argv[:2]))
def test_a_mistyped_store_is_refused_not_created(
    argv: tuple[str, ...], tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["import", str(data), "--db", "desk.duckdb"]) == 0
    before = sorted(p.name for p in tmp_path.iterdir())
    result = subprocess.run(
        [sys.executable, "-m", "apps.cli", *argv, "--db", "desk.duckbd"],
        cwd=tmp_path,
        input="a-password\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert f"there is no store at {tmp_path / 'desk.duckbd'}. Did you mean {tmp_path / 'desk.duckdb'}?" in (
        result.stderr
    )
    assert "prefdesk import FILE" in result.stderr and "Traceback" not in result.stderr
    assert "serving" not in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing made: no store, no folder


def test_only_import_makes_a_new_store(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path
) -> None:
    code, _, err = run(capsys, "stats", "--db", str(tmp_path / "new.duckdb"))
    assert code == 1 and "there is no store at" in err and "Did you mean" not in err
    assert not (tmp_path / "new.duckdb").exists()
    code, out, _ = run(capsys, "import", str(data), "--db", str(tmp_path / "new.duckdb"))
    assert code == 0 and (tmp_path / "new.duckdb").is_file()


def test_db_from_the_environment_is_said_in_the_help(monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.settings import build_parser

    monkeypatch.delenv("PREFDESK_DB", raising=False)
    stats_help = build_parser()._subparsers._group_actions[0].choices["stats"].format_help()  # type: ignore[union-attr]
    assert "required unless PREFDESK_DB is set" in " ".join(stats_help.split())
    assert "--db DB" in stats_help and "usage: prefdesk stats [-h] [--db DB]" in " ".join(stats_help.split())
    with pytest.raises(SystemExit) as exit_info:
        main(["stats"])
    assert exit_info.value.code == 2


def test_db_from_the_environment_is_used(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFDESK_DB", str(tmp_path / "env.duckdb"))
    assert run(capsys, "import", str(data))[0] == 0
    code, out, _ = run(capsys, "stats", "--json")
    assert code == 0 and json.loads(out)["items"] == 4


def test_users_add_without_a_terminal_says_to_use_password_stdin(tmp_path: Path, data: Path) -> None:
    db = tmp_path / "s.duckdb"
    main(["import", str(data), "--db", str(db)])
    result = subprocess.run(  # `echo pw | prefdesk users add ...`: stdin is a pipe, not a terminal
        [sys.executable, "-m", "apps.cli", "users", "add", "ana", "--role", "annotator", "--db", str(db)],
        input="a-password\n",
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,  # no controlling terminal either
    )
    assert result.returncode == 1
    assert "no terminal to ask for the password on" in result.stderr and "--password-stdin" in result.stderr
    assert "Traceback" not in result.stderr
    assert main(["users", "list", "--db", str(db)]) == 0  # nothing added


def test_stats_reads_beside_another_reader(tmp_path: Path, data: Path) -> None:
    """`prefdesk stats` opens the store read-only: it never needs (or waits for) the write lock."""
    db = tmp_path / "s.duckdb"
    main(["import", str(data), "--db", str(db)])
    code = f"from store.db import open_store; s = open_store({str(db)!r}, read_only=True); print('ready', flush=True); input()"
    reader = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "ready"
        result = subprocess.run(
            [sys.executable, "-m", "apps.cli", "stats", "--db", str(db)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("items      4\n")
    finally:
        reader.kill()
        reader.communicate()  # waits, and closes its pipes


def test_wording_set_at_import_then_listed_and_changed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path
) -> None:
    db = str(tmp_path / "s.duckdb")
    code, out, _ = run(
        capsys, "import", str(data), "--db", db, "--dataset", "mail", "--question", "Which reply is kinder?",
        "--user-label", "Customer",
    )  # fmt: skip
    assert code == 0
    assert "dataset 'mail' now asks: 'Which reply is kinder?'" in out
    assert "turns: user 'Customer', assistant 'Assistant', system 'System prompt'" in out
    code, out, _ = run(capsys, "datasets", "list", "--db", db)
    assert code == 0
    assert out.splitlines() == [
        "mail\t4 item(s)\t4 pair(s)",
        "  asks: 'Which reply is kinder?'",
        "  turns: user 'Customer', assistant 'Assistant', system 'System prompt'",
        "  wording: set: question, user label",
    ]
    code, out, _ = run(
        capsys, "datasets", "set", "mail", "--user-label", "", "--assistant-label", "Agent", "--db", db
    )
    assert code == 0
    assert out.splitlines() == [
        "dataset 'mail' now asks: 'Which reply is kinder?'",
        "  turns: user 'User', assistant 'Agent', system 'System prompt'",
    ]


def test_datasets_set_refusals(capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    run(capsys, "import", str(data), "--db", db, "--dataset", "mail")
    code, _, err = run(capsys, "datasets", "set", "mial", "--question", "Q?", "--db", db)
    assert code == 1 and "error: no dataset 'mial' in this store (datasets: mail)" in err
    code, _, err = run(capsys, "datasets", "set", "mail", "--question", "x" * 201, "--db", db)
    assert code == 1 and "error: --question: is 201 characters long (at most 200)" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["datasets", "set", "mail", "--db", db])
    assert exit_info.value.code == 2
    assert "give one or more of --question" in capsys.readouterr().err
