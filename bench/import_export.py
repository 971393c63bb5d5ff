"""Import and export throughput: N pairs imported from JSONL, N judgments exported per target.

    python bench/import_export.py [--pairs 100000]

Prints a table and writes bench/results/import_export.json.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exports.run import KINDS, ExportOptions, run_export  # noqa: E402
from labeling.ingest import import_files, utc_now  # noqa: E402
from labeling.models import PairJudgment, PairVerdict  # noqa: E402
from store import judgments as log  # noqa: E402
from store.db import open_store  # noqa: E402

WORDS = (
    "refund order ebook subscription shipping invoice reader app account password royalty".split()  # noqa: SIM905
)


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def write_pairs(path: Path, count: int, rng: random.Random) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for n in range(count):
            record = {
                "id": f"q{n}",
                "prompt": f"Ticket {n}: " + sentence(rng, 30),
                "response_a": sentence(rng, 60),
                "response_b": sentence(rng, 60) + " Thanks!",
                "model_a": "bot-v1",
                "model_b": "bot-v2",
            }
            handle.write(json.dumps(record) + "\n")


def seed_judgments(store, rng: random.Random) -> int:  # type: ignore[no-untyped-def]
    with store.cursor() as cur:
        pairs = cur.execute("SELECT id, item_id, response_a_id, response_b_id FROM pairs").fetchall()
    now = datetime(2026, 1, 1)
    verdicts = [PairVerdict.LEFT] * 6 + [PairVerdict.RIGHT] * 2 + [PairVerdict.TIE, PairVerdict.BOTH_BAD]
    judgments = [
        PairJudgment(f"bench-{n:09d}", "bench", item, pair, a, b, rng.choice(verdicts), "", now, now)
        for n, (pair, item, a, b) in enumerate(pairs)
    ]
    with store.transaction() as cur:
        log.append_pair_judgments(cur, judgments)
    return len(judgments)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=100_000)
    args = parser.parse_args()
    rng = random.Random(1)
    results: dict[str, object] = {"pairs": args.pairs}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "pairs.jsonl"
        write_pairs(source, args.pairs, rng)
        results["file_mb"] = round(source.stat().st_size / 1e6, 1)
        store = open_store(folder / "bench.duckdb")
        started = time.perf_counter()
        report = import_files(store, [source], dataset="bench")
        results["import_s"] = round(time.perf_counter() - started, 2)
        assert report.pairs_added == args.pairs, report
        started = time.perf_counter()
        again = import_files(store, [source], dataset="bench")
        results["reimport_unchanged_s"] = round(time.perf_counter() - started, 2)
        assert not again.added_anything
        results["judgments"] = seed_judgments(store, rng)
        started = time.perf_counter()
        options = ExportOptions(eval_fraction=0.1, seed=1)
        manifest = run_export(store, folder / "split", kind="dpo", target="trl", options=options, now=utc_now)
        results["export_dpo_trl_eval_split_s"] = round(time.perf_counter() - started, 2)
        results["export_dpo_trl_eval_split_clusters"] = manifest["split"]["clusters"]
        started = time.perf_counter()
        manifest = run_export(store, folder / "after_split", kind="dpo", target="trl", now=utc_now)
        results["export_dpo_trl_keeping_eval_items_out_s"] = round(time.perf_counter() - started, 2)
        results["export_dpo_trl_keeping_eval_items_out_records"] = manifest["records"]
        overlap = ExportOptions(allow_eval_overlap=True)  # every kind exports every judged pair
        for kind, targets in KINDS.items():
            for target in targets:
                started = time.perf_counter()
                manifest = run_export(
                    store, folder / f"{kind}_{target}", kind=kind, target=target, options=overlap, now=utc_now
                )
                results[f"export_{kind}_{target}_s"] = round(time.perf_counter() - started, 2)
                results[f"export_{kind}_{target}_records"] = manifest["records"]
        store.close()
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(f"{'measure':<48}{'value':>12}")
    for key, value in results.items():
        print(f"{key:<48}{value!s:>12}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "import_export.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
