"""Key press to the next pair rendered, in headless Chromium against `prefdesk serve`.

    python bench/keys.py [--presses 200]

The store is the demo's (its emails, wording and demo user) plus copies of its emails under
other ids, so that there are more pairs than presses. Logs in as the demo user and judges by
keyboard, at most 4 presses a second (the desk's default rate limit, 5 judgments a second after a
burst of 20, refuses a faster annotator: unpaced, a run of 200 presses met it); each figure is the
time from the key press to the page showing the new progress count (the next pair is rendered
in the same update). A p95 needs samples: at least 200 presses are timed, after one untimed
warm-up press. Prints p50/p95 and writes bench/results/keys.json.
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

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the project's packages, run from anywhere
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


MIN_PRESSES = 200
PACE = 0.25  # seconds from one press to the next, at least (4 judgments/s: a fast person)


def prepare_store(db: Path, pairs: int) -> None:
    """The demo store, plus copies of the demo's emails (new ids, the prompt marked) until it
    holds at least `pairs` pairs."""
    from labeling.clock import utc_now
    from labeling.demo import demo_dataset_path, prepare_demo
    from labeling.ingest import import_files
    from store.db import open_store

    lines = demo_dataset_path().read_text(encoding="utf-8").splitlines()
    emails = [json.loads(line) for line in lines if line.strip() and "prefdesk_dataset" not in line]
    copies = []
    for n in range(pairs):
        email = dict(emails[n % len(emails)])
        email["id"] = f"{email['id']}-copy-{n}"
        email["prompt"] = f"{email['prompt']}\n\n(ticket {n})"
        copies.append(email)
    more = db.parent / "more.jsonl"
    more.write_text("".join(json.dumps(record) + "\n" for record in copies), encoding="utf-8")
    store = open_store(db)
    try:
        prepare_demo(store, utc_now)
        import_files(store, [more], dataset="demo_copies", now=utc_now)
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--presses", type=int, default=MIN_PRESSES, help=f"timed key presses (>= {MIN_PRESSES})"
    )
    args = parser.parse_args()
    if args.presses < MIN_PRESSES:
        parser.error(f"--presses must be at least {MIN_PRESSES}: a p95 of fewer samples says little")
    folder = Path(tempfile.mkdtemp(prefix="prefdesk-keys-"))
    prepare_store(folder / "keys.duckdb", args.presses + 1)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "apps.cli", "serve", "--db", str(folder / "keys.duckdb"), "--port", str(port)],
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
            started = time.perf_counter()
            for done in range(1, args.presses + 2):  # one warm-up press, then the timed ones
                if timings:  # no faster than PACE: the desk's rate limit (5/s, burst 20) refuses more
                    time.sleep(max(0.0, PACE - (time.perf_counter() - started)))
                started = time.perf_counter()
                page.keyboard.press("3")
                try:
                    page.locator(f'.pd-progress[data-judged="{done}"]').wait_for(timeout=10_000)
                except PlaywrightTimeout:
                    shown = page.locator(".pd-progress").get_attribute("data-judged")
                    page.screenshot(path=str(ROOT / "bench" / "results" / "keys-timeout.png"))
                    raise SystemExit(
                        f"press {done}: the count did not reach {done} within 10 s (it shows {shown}); "
                        "the page is in bench/results/keys-timeout.png"
                    ) from None
                timings.append((time.perf_counter() - started) * 1000)
            browser.close()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    steady = timings[1:]  # the first includes the page's warm-up
    assert len(steady) >= MIN_PRESSES
    cuts = statistics.quantiles(steady, n=100, method="inclusive")
    result = {
        "presses": len(steady),
        "p50_ms": round(cuts[49], 1),
        "p95_ms": round(cuts[94], 1),
        "max_ms": round(max(steady), 1),
        "load_average": os.getloadavg(),
    }
    print(
        f"python bench/keys.py --presses {args.presses}: key press -> next pair rendered, "
        f"{result['presses']} presses: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
        f"max {result['max_ms']} ms (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})"
    )
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "keys.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
