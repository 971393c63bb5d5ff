"""The README's commands, run as written: its bash blocks are read from README.md, so the README
cannot drift from the product.

- The first block: `make demo` (the set-up is what `make test` already did; the demo store and
  port are moved aside with the Makefile's DEMO_DB and PORT, taken from the environment).
- The workflow block: typed line by line into a real shell in a terminal (pexpect), in a fresh
  folder that holds only `.venv` (a link to this checkout's), as a newcomer would after `make
  demo`. `prefdesk serve` goes to a second terminal, as the README says. Passwords are typed at
  the prompts. Where the README says to judge in the browser, the test judges through the REST
  API with the token the README's own `tokens create` line printed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pexpect
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.readme
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "readme-password-1"
DONE = "__prefdesk_readme_done__"
GOOD_ANSWERS = (
    "It shipped on Monday; tracking number NW1001.",
    "Yes, within 14 days, from your account page.",
)


def bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)


def commands(block: str) -> list[str]:
    """The block's commands: one per line, a here-document with its body kept together."""
    found: list[str] = []
    lines = iter(block.splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        heredoc = re.search(r"<<'?(\w+)'?", line)
        if heredoc:
            body = [line]
            for more in lines:
                body.append(more)
                if more.strip() == heredoc.group(1):
                    break
            found.append("\n".join(body))
        else:
            found.append(line)
    return found


def test_the_readme_has_the_blocks_this_test_runs() -> None:
    blocks = bash_blocks()
    assert len(blocks) == 2, "a new bash block in README.md: teach tests/docs/test_readme.py to run it"
    assert [c.split("#")[0].strip() for c in commands(blocks[0])] == ["make demo", "make test"]
    assert commands(blocks[1])[0].startswith("source .venv/bin/activate")


class Terminal:
    """An interactive bash in a pseudo-terminal; `run` types a command and returns its output."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.shell = pexpect.spawn(
            "bash", ["--norc", "--noprofile"], cwd=str(cwd), env=env, encoding="utf-8", timeout=180
        )
        self.shell.setecho(False)
        self.shell.sendline(f"stty -echo; PS1=''; PS2=''; PROMPT_COMMAND='echo {DONE} $?'")
        self.shell.expect(f"{DONE} 0")

    def run(self, command: str) -> tuple[int, str]:
        self.shell.sendline(command)
        output = ""
        while True:
            seen = self.shell.expect(["Password: ", "Repeat password: ", rf"{DONE} (\d+)\r?\n"])
            output += self.shell.before
            if seen < 2:
                self.shell.sendline(PASSWORD)  # typed at the prompt, as a person would
                continue
            return int(self.shell.match.group(1)), output.replace("\r\n", "\n")

    def start(self, command: str, until: str) -> str:
        self.shell.sendline(command)
        self.shell.expect(until)
        return str(self.shell.before)

    def interrupt(self, until: str) -> str:
        self.shell.sendintr()  # Ctrl+C
        self.shell.expect(until)
        return str(self.shell.before)

    def close(self) -> None:
        self.shell.close(force=True)


def judge_everything(port: int, token: str) -> int:
    """What the person does in the browser between `serve` and `export`: judge every pair."""
    judged = 0
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", headers=headers, timeout=30) as api:
        while (shown := api.get("/pairs/next").json()["pair"]) is not None:
            assert shown["wording"]["question"] == "Which reply answers the customer better?"
            body = {
                "client_id": shown["showing_id"],
                "showing_id": shown["showing_id"],
                "pair_id": shown["pair_id"],
                "left_id": shown["left"]["id"],
                "right_id": shown["right"]["id"],
                "verdict": "left" if shown["left"]["content"] in GOOD_ANSWERS else "right",
            }
            assert api.post("/judgments", json=body).status_code == 201
            judged += 1
    return judged


@pytest.fixture
def newcomer_folder(tmp_path: Path) -> Path:
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    return tmp_path


@pytest.fixture
def terminal_env() -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFDESK_DB", "VIRTUAL_ENV")}
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if not p.startswith(str(ROOT / ".venv")))
    env["PREFDESK_PORT"] = str(free_port())
    env["TERM"] = "dumb"
    env["VIRTUAL_ENV_DISABLE_PROMPT"] = "1"  # no "(.venv) " prompt in the output read back
    yield env


def test_the_workflow_block_runs_as_written(newcomer_folder: Path, terminal_env: dict[str, str]) -> None:
    lines = commands(bash_blocks()[1])
    port = int(terminal_env["PREFDESK_PORT"])
    first = Terminal(newcomer_folder, terminal_env)
    second: Terminal | None = None
    said: dict[str, str] = {}
    try:
        for line in lines:
            if line.startswith("prefdesk serve"):  # "in a second terminal"
                second = Terminal(newcomer_folder, terminal_env)
                assert second.run(lines[0])[0] == 0  # that terminal needs `prefdesk` on its PATH too
                announced = second.start(line, until="Ctrl\\+C stops it")
                said["serve"] = announced + second.start("", until=f"http://127.0.0.1:{port}")
                continue
            code, output = first.run(line)
            assert code == 0, f"README line failed ({code}): {line}\n{output}"
            said[line.split("#")[0].strip()] = output
            if line.startswith("prefdesk tokens create"):
                token = output.strip().splitlines()[0]
                assert re.fullmatch(r"pd_[0-9a-f]+_\S+", token), output
                assert judge_everything(port, token) == 2
        assert second is not None, "the README's workflow no longer serves the desk"
        stopped = second.interrupt(until="stopped")
        assert "Traceback" not in stopped
    finally:
        first.close()
        if second is not None:
            second.close()
    imported = said["prefdesk import emails.jsonl --db desk.duckdb"]
    assert "imported into dataset 'emails': 2 item(s), 4 response(s), 2 pair(s)" in imported
    assert "judgments  2 in force" in said["prefdesk stats --db desk.duckdb"]
    assert "wrote 2 record(s)" in said["prefdesk export dpo --target trl --db desk.duckdb --out out/"]
    exported = (newcomer_folder / "out" / "dpo_trl.jsonl").read_text(encoding="utf-8").splitlines()
    chosen = sorted(json.loads(line)["chosen"][0]["content"] for line in exported)
    assert chosen == sorted(GOOD_ANSWERS)
    assert not (newcomer_folder / "desk.duckdb.sock").exists()


def test_make_demo_ends_with_how_to_sign_in(tmp_path: Path, terminal_env: dict[str, str]) -> None:
    port = int(terminal_env["PREFDESK_PORT"])
    env = {**terminal_env, "PORT": str(port), "DEMO_DB": str(tmp_path / "demo.duckdb")}
    make = subprocess.Popen(
        ["make", "demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert make.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = make.stdout.readline()
            assert line, "make demo ended early:\n" + "".join(lines)
            lines.append(line)
            if "password" in line:
                break
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200
    finally:
        os.killpg(make.pid, signal.SIGINT)  # Ctrl+C in the terminal: make and the desk stop
        make.communicate(timeout=30)  # waits, and closes its pipe
    text = "".join(lines)
    assert "warning" not in text.lower() and "Traceback" not in text
    assert len(lines) <= 12, text  # a short account, not pages of installer output
    sign_in = [line.strip() for line in lines[-3:]]
    assert sign_in == [f"open      http://127.0.0.1:{port}", "user      demo", "password  demo-password"]
    assert f"source {ROOT}/.venv/bin/activate" in text  # how to get `prefdesk` afterwards


def test_the_package_builds_without_warnings(tmp_path: Path) -> None:
    """`make demo` installs this package: setuptools once warned that data folders "would be
    ignored" (which made the package look broken) and that the license field was deprecated."""
    built = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pip"), "wheel", "-v", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    log = built.stdout + built.stderr
    assert (
        "BuildBackendWarning" not in log
        and "would be ignored" not in log
        and "SetuptoolsDeprecationWarning" not in log
    )
    (wheel,) = tmp_path.glob("prefdesk-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "labeling/fixtures/demo_support.jsonl",
        "store/migrations/0001_initial.sql",
        "apps/gradio_app/keyboard.js",
    } <= names
