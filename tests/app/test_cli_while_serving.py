"""Every store command works while `prefdesk serve` holds the store, through that desk, with the
words it prints without a desk; only the desk's user may use its control socket."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from apps.control import socket_path
from tests.conftest import free_port, start_desk_process, support_records, write_jsonl

pytestmark = pytest.mark.app
ADMIN_PASSWORD = "admin-password-1"


def cli(cwd: Path, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real `prefdesk` command line, run from `cwd` (its relative paths mean files there)."""
    return subprocess.run(
        [sys.executable, "-m", "apps.cli", *argv],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def said(result: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    return result.returncode, result.stdout, result.stderr


def api(port: int, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{port}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def make_store(folder: Path) -> Path:
    """A store desk.duckdb with 6 items and an admin `root`; the commands run from this folder."""
    write_jsonl(folder / "support.jsonl", support_records(6))
    assert cli(folder, "import", "support.jsonl", "--db", "desk.duckdb").returncode == 0
    added = cli(folder, "users", "add", "root", "--role", "admin", "--password-stdin", "--db", "desk.duckdb",
                stdin=ADMIN_PASSWORD + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    return folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_store(tmp_path)


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """As `folder`, but in a folder every user can reach (pytest's own are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="prefdesk-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield make_store(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


READERS = (
    ("stats",),
    ("stats", "--json"),
    ("users", "list"),
    ("tokens", "list"),
    ("datasets", "list"),
    ("evals", "registry", "list"),
)


def test_store_commands_go_through_the_serving_desk_with_the_same_output(folder: Path) -> None:
    alone = {argv: said(cli(folder, *argv, "--db", "desk.duckdb")) for argv in READERS}
    assert all(code == 0 for code, _, _ in alone.values())

    port = free_port()
    desk = start_desk_process(folder / "desk.duckdb", port)
    try:
        # While it serves, the readers print exactly what they printed without it.
        for argv in READERS:
            assert said(cli(folder, *argv, "--db", "desk.duckdb")) == alone[argv], argv

        # Accounts and tokens made from the terminal work at once in the running desk.
        added = cli(folder, "users", "add", "carl", "--role", "annotator", "--password-stdin",
                    "--db", "desk.duckdb", stdin="carl-password\n")  # fmt: skip
        assert said(added) == (0, "added annotator 'carl'\n", "")
        made = cli(folder, "tokens", "create", "carl", "--label", "script", "--db", "desk.duckdb")
        assert made.returncode == 0 and "shown once" in made.stderr
        token = made.stdout.strip()
        with api(port, token) as carl:
            assert carl.get("/me").json()["user"] == "carl"

            # An import from the terminal: the new pairs are on carl's queue at once.
            write_jsonl(folder / "more.jsonl", support_records(9)[6:])
            imported = cli(folder, "import", "more.jsonl", "--db", "desk.duckdb", "--dataset", "support")
            assert imported.returncode == 0 and "3 item(s), 6 response(s), 3 pair(s)" in imported.stdout
            assert carl.get("/me").json()["total"] == 9

            for _ in range(9):
                shown = carl.get("/pairs/next").json()["pair"]
                body = {
                    "client_id": shown["showing_id"],
                    "showing_id": shown["showing_id"],
                    "pair_id": shown["pair_id"],
                    "left_id": shown["left"]["id"],
                    "right_id": shown["right"]["id"],
                    "verdict": "left",
                }
                assert carl.post("/judgments", json=body).status_code == 201

            served_stats = said(cli(folder, "stats", "--json", "--db", "desk.duckdb"))
            served_export = said(cli(folder, "export", "dpo", "--target", "trl", "--db", "desk.duckdb",
                                     "--out", "served"))  # fmt: skip
            assert served_export[0] == 0, served_export
            backed_up = cli(folder, "backup", "--db", "desk.duckdb", "--out", "backup")
            assert backed_up.returncode == 0 and (folder / "backup" / "backup.json").is_file()

            # A revoke from the terminal stops the token at once.
            token_id = token.split("_")[1]
            assert said(cli(folder, "tokens", "revoke", token_id, "--db", "desk.duckdb"))[:2] == (
                0,
                f"revoked token {token_id} of 'carl'\n",
            )
            assert carl.get("/me").status_code == 401

        # The store is the desk's: a second desk is refused, naming the one that serves it.
        again = cli(folder, "serve", "--db", "desk.duckdb", "--port", str(free_port()))
        assert again.returncode == 1
        assert f"a desk (process {desk.pid}) already serves" in again.stderr
        assert "serving" not in again.stdout
    finally:
        desk.send_signal(signal.SIGTERM)  # what `kill PID` or a service manager sends
        desk.communicate(timeout=30)  # waits, and closes its pipes
    assert not socket_path(folder / "desk.duckdb").exists()  # the desk removed its socket

    # Without the desk: the same counts and the same export, record for record.
    assert said(cli(folder, "stats", "--json", "--db", "desk.duckdb")) == served_stats
    stats = json.loads(served_stats[1])
    assert stats["judgments"]["in_force"] == 9 and stats["annotators"]["carl"]["left"] == 9
    alone_export = said(
        cli(folder, "export", "dpo", "--target", "trl", "--db", "desk.duckdb", "--out", "alone")
    )
    assert alone_export == (0, served_export[1].replace("/served", "/alone"), served_export[2])
    assert "wrote 9 record(s)" in alone_export[1]
    served_lines = (folder / "served" / "dpo_trl.jsonl").read_bytes()
    assert served_lines == (folder / "alone" / "dpo_trl.jsonl").read_bytes()


def _connect_as_nobody(path: Path, chmod_first: int | None) -> str:
    """In a forked child that has become `nobody`: connect to the desk's socket and ask for the
    stats. Returns what happened, as the child saw it."""
    if chmod_first is not None:
        os.chmod(path, chmod_first)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: no pytest, no threads of its own; only the socket
        outcome = "?"
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(20)
                sock.connect(str(path))
                sock.sendall(json.dumps({"argv": ["stats"], "db": "x", "cwd": "/"}).encode())
                sock.shutdown(socket.SHUT_WR)
                answer = sock.recv(65536)
                outcome = "answered: " + answer.decode(errors="replace") if answer else "closed, no answer"
        except PermissionError:
            outcome = "permission denied"
        except (BrokenPipeError, ConnectionResetError):  # the desk hung up before reading a byte
            outcome = "closed, no answer"
        except OSError as exc:
            outcome = f"error {exc.errno}"
        finally:
            os.write(write, outcome.encode())
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        return pipe.read()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_only_the_desks_user_can_use_its_control_socket(open_folder: Path) -> None:
    folder = open_folder
    desk = start_desk_process(folder / "desk.duckdb", free_port())
    path = socket_path(folder / "desk.duckdb")
    try:
        assert path.stat().st_mode & 0o777 == 0o600  # others reach the folder, not the socket
        assert _connect_as_nobody(path, chmod_first=None) == "permission denied"
        # Even with the file opened to everyone, the desk checks the caller's uid and says nothing.
        assert _connect_as_nobody(path, chmod_first=0o666) == "closed, no answer"
        assert cli(folder, "stats", "--db", "desk.duckdb").returncode == 0  # its own user still can
    finally:
        desk.send_signal(signal.SIGTERM)
        desk.communicate(timeout=30)
