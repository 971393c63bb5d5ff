"""Group commit in the store's writer: judgments per second and per commit, with and without it.

    python bench/writer.py [--items 20000] [--levels 1,8,32] [--seconds 5]

A store file with --items pairs; for each level, that many threads judge at once through one
Desk (next pair, then submit and wait for the commit), first with group commit (the writer's
default, up to store.writer.MAX_GROUP units per commit), then with one unit per commit. In one
process, so it measures the writer and DuckDB's commits, not HTTP (bench/load.py does that).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from import_export import write_pairs  # the same synthetic tickets as the import/export bench

import store.writer
from labeling.desk import Desk, ShownPair
from labeling.ingest import import_files
from store.db import open_store


def run(db: Path, threads: int, seconds: float) -> dict[str, float]:
    store = open_store(db)
    desk = Desk(store)
    latencies: list[float] = []
    until = time.monotonic() + seconds
    commits_before = store.commits

    def annotator(name: str) -> None:
        while time.monotonic() < until:
            showing = desk.next_showing(name)
            if showing is None:
                return
            started = time.perf_counter()
            desk.submit(name, ShownPair.of(showing), "left")
            latencies.append((time.perf_counter() - started) * 1000)

    workers = [threading.Thread(target=annotator, args=(f"t{threads}-{n}",)) for n in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    commits = store.commits - commits_before
    store.close()
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {
        "per_second": len(latencies) / elapsed,
        "per_commit": len(latencies) / max(commits, 1),
        "p50": cuts[49],
        "p99": cuts[98],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    print(f"$ python bench/writer.py --items {args.items} --levels {args.levels} --seconds {args.seconds}")
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.duckdb"
        source = Path(folder) / "pairs.jsonl"
        write_pairs(source, args.items, __import__("random").Random(1))
        seeding = open_store(db)
        import_files(seeding, [source], dataset="bench")
        seeding.close()
        print("| threads | group commit | judgments/s | judgments/commit | submit p50 ms | submit p99 ms |")
        print("| --- | --- | --- | --- | --- | --- |")
        default = store.writer.MAX_GROUP
        for level in (int(n) for n in args.levels.split(",")):
            for group in (default, 1):
                store.writer.MAX_GROUP = group
                got = run(db, level, args.seconds)
                print(
                    f"| {level} | {'on' if group > 1 else 'off'} | {got['per_second']:.0f} | "
                    f"{got['per_commit']:.1f} | {got['p50']:.1f} | {got['p99']:.1f} |",
                    flush=True,
                )
        store.writer.MAX_GROUP = default


if __name__ == "__main__":
    main()
