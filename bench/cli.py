"""How long `prefdesk` commands take, as a person at a terminal waits for them.

    python bench/cli.py [--repeat 7]

On the bundled demo store (66 items), each command is run as its own process (`prefdesk ...`
from the virtualenv) `--repeat` times: `--help`, `stats`, `users list`, `users add`
(--password-stdin: includes the salted scrypt hash), then the same while `prefdesk serve` holds
the store (they go through the desk's control socket). Prints the median and the slowest run
per command and writes bench/results/cli.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREFDESK = str(Path(sys.executable).parent / "prefdesk")
DEMO = ROOT / "labeling" / "fixtures" / "demo_support.jsonl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(argv: list[str], cwd: Path, stdin: str | None = None) -> float:
    started = time.perf_counter()
    result = subprocess.run([PREFDESK, *argv], cwd=cwd, input=stdin, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"prefdesk {' '.join(argv)} failed: {result.stderr}")
    return elapsed


def measure(name: str, runs: list[float], figures: dict[str, dict[str, float]]) -> None:
    figures[name] = {"median_s": statistics.median(runs), "max_s": max(runs)}
    print(f"{name:<40} median {statistics.median(runs) * 1000:6.0f} ms   slowest {max(runs) * 1000:6.0f} ms")


def commands(folder: Path, repeat: int, figures: dict[str, dict[str, float]], where: str) -> None:
    db = ["--db", "demo.duckdb"]
    measure(f"--help ({where})", [timed(["--help"], folder) for _ in range(repeat)], figures)
    measure(f"stats ({where})", [timed(["stats", *db], folder) for _ in range(repeat)], figures)
    measure(f"users list ({where})", [timed(["users", "list", *db], folder) for _ in range(repeat)], figures)
    adds = [
        timed(
            ["users", "add", f"u{where[:2].strip()}{n}", "--role", "annotator", "--password-stdin", *db],
            folder,
            stdin="bench-password\n",
        )  # fmt: skip
        for n in range(repeat)
    ]
    measure(f"users add ({where})", adds, figures)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="prefdesk-cli-"))
    subprocess.run(
        [PREFDESK, "import", str(DEMO), "--db", "demo.duckdb"], cwd=folder, check=True, capture_output=True
    )
    figures: dict[str, dict[str, float]] = {}
    print(f"python bench/cli.py --repeat {args.repeat}   (demo store, 66 items; each run a new process)")
    commands(folder, args.repeat, figures, "no desk")
    port = free_port()
    desk = subprocess.Popen(
        [PREFDESK, "serve", "--db", "demo.duckdb", "--port", str(port)],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert desk.stdout is not None
        while "Ctrl+C stops it" not in desk.stdout.readline():
            if desk.poll() is not None:
                raise SystemExit("prefdesk serve did not start")
        commands(folder, args.repeat, figures, "through the desk")
    finally:
        os.killpg(desk.pid, signal.SIGTERM)
        desk.wait(timeout=30)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "cli.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
