"""Importing over REST into a serving desk, and what the desk is like afterwards.

    python bench/rest_import.py [--pairs 100000] [--chunk 10000]

Serves a store with one admin and one annotator (`prefdesk serve`, its own process), pushes
--pairs records of the `pairs` format as `POST /api/v1/items` in chunks of --chunk, then
reports: the time of the whole import and of each chunk, the server's RSS right after and 5 s
later, and the time of the annotator's first judgment after the import (GET /pairs/next + POST
/judgments) and of the next ten.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx
from import_export import write_pairs  # the same synthetic tickets as the import/export bench
from load import free_port, memory_mb, start_server

from labeling import tokens, users
from labeling.clock import utc_now
from store.db import open_store


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far, every thread (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_judgment(annotator: httpx.Client) -> float:
    started = time.perf_counter()
    shown = annotator.get("/pairs/next").json()["pair"]
    body = {
        "client_id": uuid.uuid4().hex,
        "showing_id": shown["showing_id"],
        "pair_id": shown["pair_id"],
        "left_id": shown["left"]["id"],
        "right_id": shown["right"]["id"],
        "verdict": "left",
    }
    answer = annotator.post("/judgments", json=body)
    answer.raise_for_status()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    args = parser.parse_args()
    print(f"$ python bench/rest_import.py --pairs {args.pairs} --chunk {args.chunk}")
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "desk.duckdb"
        source = Path(folder) / "pairs.jsonl"
        write_pairs(source, args.pairs, random.Random(1))
        records = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()]
        store = open_store(db)
        users.add_user(store, "root", "admin", "bench-password-1", utc_now)
        users.add_user(store, "ana", "annotator", "bench-password-1", utc_now)
        admin_token = tokens.create_token(store, "root", "bench", utc_now)[0]
        ana_token = tokens.create_token(store, "ana", "bench", utc_now)[0]
        store.close()
        port = free_port()
        server = start_server(db, port, overlap=1)
        url = f"http://127.0.0.1:{port}/api/v1"
        try:
            before = memory_mb(server.pid)
            cpu_before = cpu_seconds(server.pid)
            load_before = os.getloadavg()
            chunks = []
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=600
            ) as admin:
                started = time.perf_counter()
                for start in range(0, len(records), args.chunk):
                    chunk_started = time.perf_counter()
                    answer = admin.post(
                        "/items",
                        json={
                            "dataset": "bench",
                            "format": "pairs",
                            "records": records[start : start + args.chunk],
                        },
                    )
                    answer.raise_for_status()
                    chunks.append(time.perf_counter() - chunk_started)
                total = time.perf_counter() - started
            server_cpu = cpu_seconds(server.pid) - cpu_before
            after = memory_mb(server.pid)
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {ana_token}"}, timeout=60
            ) as ana:
                first = one_judgment(ana)
                next_ten = [one_judgment(ana) for _ in range(10)]
            time.sleep(5)
            settled = memory_mb(server.pid)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
    print(f"load average before: {' '.join(f'{load:.2f}' for load in load_before)}")
    print(f"import of {args.pairs:,} pairs in {len(chunks)} chunks: {total:.2f} s")
    print(f"  server CPU seconds during the import (every thread): {server_cpu:.2f}")
    low, middle, high = min(chunks), statistics.median(chunks), max(chunks)
    print(f"  chunks: min {low:.2f} s, median {middle:.2f} s, max {high:.2f} s")
    print(
        f"server RSS: {before['rss_mb']} MB before, {after['rss_mb']} MB right after, "
        f"{settled['rss_mb']} MB 5 s later (peak {settled['peak_rss_mb']} MB)"
    )
    later = statistics.median(next_ten)
    print(f"first judgment after the import: {first:.0f} ms; the next ten: median {later:.0f} ms")


if __name__ == "__main__":
    main()
