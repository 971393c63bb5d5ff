"""Key press to the next pair rendered, in headless Chromium against `prefdesk demo`.

    python bench/keys.py [--judgments 40]

Logs in as the demo user and judges by keyboard; each figure is the time from the key press
to the page showing the new progress count (the next pair is rendered in the same update).
Prints p50/p95 and writes bench/results/keys.json.
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

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--judgments", type=int, default=40)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="prefdesk-keys-"))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "apps.cli", "demo", "--db", str(folder / "demo.duckdb"), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    timings = []
    try:
        deadline = time.monotonic() + 60
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            if time.monotonic() > deadline:
                raise SystemExit("the demo did not start")
            time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=os.environ.get("PREFDESK_CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_ARGS
            )
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_label("username").fill("demo")
            page.get_by_label("password").fill("demo-password")
            page.get_by_role("button", name="Login").click()
            page.locator('.pd-progress[data-judged="0"]').wait_for(timeout=30_000)
            for done in range(1, args.judgments + 1):
                started = time.perf_counter()
                page.keyboard.press("3")
                page.locator(f'.pd-progress[data-judged="{done}"]').wait_for(timeout=10_000)
                timings.append((time.perf_counter() - started) * 1000)
            browser.close()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    steady = timings[1:]  # the first includes the page's warm-up
    cuts = statistics.quantiles(steady, n=100, method="inclusive")
    result = {"judgments": len(steady), "p50_ms": round(cuts[49], 1), "p95_ms": round(cuts[94], 1)}
    print(
        f"key press -> next pair rendered, {result['judgments']} judgments: p50 {result['p50_ms']} ms, "
        f"p95 {result['p95_ms']} ms"
    )
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "keys.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
