"""One export in a fresh process, on a store of N judged pairs kept between runs: its seconds and
the process's peak RSS. For comparing two versions of the exporters under the same load (run
them alternately), which bench/import_export.py cannot do when the machine is shared.

    python bench/export_one.py --pairs 100000 dpo trl [--split] [--code DIR] [--phases] [--memory-limit 600MB]

The store (/tmp/prefdesk-bench-N.duckdb) is built the way bench/import_export.py builds it (the
same records and judgments) on the first run. `--code DIR` runs the exporters of another
checkout (e.g. `git worktree add /tmp/old dcb8034`) on the same store. `--phases` also prints
the seconds, CPU seconds and resident memory after each stage of the export (the functions in
PHASES, where the checkout has them; calls of one function add up).
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _cpu_seconds() -> float:
    """User and system seconds of every thread of this process (DuckDB's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# Stages of an export: (module, function). Timed by wrapping them, as a profiler would not (its
# overhead per Python call would inflate the Python stages against DuckDB's). Functions, not
# generators: a generator's time is spent where it is read (record_lines inside _write_data).
PHASES = (
    ("store.judgments", "log_summary"),
    ("exports.run", "select_preferences"),
    ("exports.run", "_screen"),
    ("exports.run", "_split"),
    ("store.judgments", "record_lines"),
    ("exports.run", "_write_data"),
    ("store.registry", "record_training_items"),
    ("store.registry", "register_eval_items"),
)


def _rss_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


def _time_phases() -> dict[str, list[float]]:
    """Wrap the PHASES found: each adds its wall and CPU seconds, and keeps the RSS after it."""
    import importlib

    spent: dict[str, list[float]] = {}
    for module_name, name in PHASES:
        module = importlib.import_module(module_name)
        function = getattr(module, name, None)
        if function is None:
            continue

        def timed(*args: Any, _function: Any = function, _name: str = name, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), _cpu_seconds()
            try:
                return _function(*args, **kwargs)
            finally:
                totals = spent.setdefault(_name, [0.0, 0.0, 0])
                totals[0] += time.perf_counter() - wall
                totals[1] += _cpu_seconds() - cpu
                totals[2] = _rss_mb()

        setattr(module, name, timed)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("kind")
    parser.add_argument("target")
    parser.add_argument("--split", action="store_true", help="--eval-fraction 0.1 --seed 1")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose exporters run")
    parser.add_argument("--phases", action="store_true", help="also time the stages of the export")
    parser.add_argument(
        "--memory-limit", help="DuckDB's memory_limit for the store (e.g. 600MB; DuckDB's default otherwise)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(args.code))
    # The checkout's modules first: bench/import_export.py puts this checkout first on sys.path
    # when it is imported, and would otherwise load this checkout's exporters for both runs.
    from exports import run as run_module
    from exports.run import ExportOptions, run_export
    from labeling.clock import utc_now
    from labeling.ingest import import_files
    from store import judgments as _judgments  # noqa: F401  (import_export's, from the checkout)
    from store.db import open_store

    sys.path.insert(0, str(ROOT / "bench"))
    import import_export as bench

    code = Path(run_module.__file__).resolve().parent.parent  # where the exporters really came from

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
    if args.memory_limit:
        with store.cursor() as cur:
            cur.execute(f"SET memory_limit = '{args.memory_limit}'")
    spent = _time_phases() if args.phases else {}
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
        f"{seconds:.2f} s, CPU {cpu:.2f} s, peak RSS {peak} MB, load average {load}, code {code}"
    )

    for name, (wall, cpu, rss) in spent.items():
        print(f"  {name}: {wall:.2f} s, CPU {cpu:.2f} s, RSS after it {rss:.0f} MB")


if __name__ == "__main__":
    main()
