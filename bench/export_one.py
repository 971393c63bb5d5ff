"""One export in a fresh process, on a store of N judged pairs kept between runs: its seconds and
the process's peak RSS. For comparing two versions of the exporters under the same load (run
them alternately), which bench/import_export.py cannot do when the machine is shared.

    python bench/export_one.py --pairs 100000 dpo trl [--split] [--code DIR]

The store (/tmp/prefdesk-bench-N.duckdb) is built the way bench/import_export.py builds it (the
same records and judgments) on the first run. `--code DIR` runs the exporters of another
checkout (e.g. `git worktree add /tmp/old dcb8034`) on the same store.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cpu_seconds() -> float:
    """User and system seconds of every thread of this process (DuckDB's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("kind")
    parser.add_argument("target")
    parser.add_argument("--split", action="store_true", help="--eval-fraction 0.1 --seed 1")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose exporters run")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(args.code))
    import import_export as bench

    from exports.run import ExportOptions, run_export
    from labeling.clock import utc_now
    from labeling.ingest import import_files
    from store.db import open_store

    db = Path(f"/tmp/prefdesk-bench-{args.pairs}.duckdb")
    if not db.exists():
        rng = random.Random(1)
        source = db.with_suffix(".jsonl")
        bench.write_pairs(source, args.pairs, rng)
        store = open_store(db)
        import_files(store, [source], dataset="bench")
        bench.seed_judgments(store, rng)
        store.close()
        source.unlink()
    store = open_store(db)
    if args.split:
        options = ExportOptions(eval_fraction=0.1, seed=1, allow_eval_overlap=True)
    elif args.kind == "evals":
        options = ExportOptions(all_items=True)
    else:
        options = ExportOptions(allow_eval_overlap=True)
    out = Path(f"/tmp/prefdesk-bench-{args.pairs}-export")
    shutil.rmtree(out, ignore_errors=True)
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    manifest = run_export(store, out, kind=args.kind, target=args.target, options=options, now=utc_now)
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    shutil.rmtree(out, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(
        f"{args.kind} {args.target}{' split' if args.split else ''}: {manifest['records']} records, "
        f"{seconds:.2f} s, CPU {cpu:.2f} s, peak RSS {peak} MB, load average {load}, code {args.code}"
    )


if __name__ == "__main__":
    main()
