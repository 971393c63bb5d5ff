"""Import and export throughput: N pairs imported from JSONL, N judgments exported per target.

    python bench/import_export.py [--pairs 100000] [--repeat 2] [--out bench/results/import_export.json]
    python bench/import_export.py --pairs 100000 --import-only  # the import figures alone

Imports are measured twice: on mixed files of every format (write_mixed_files: chat prompts,
multi-turn, tool calls, `responses`, TRL and Arena files) and on the plain `pairs` file the
exports then read.

Prints a table and writes the figures as JSON (bench/results/import_export.json by default).
Each export runs `--repeat` times; the table gives the fastest and slowest run (the machine's
two cores are shared, so single runs spread). Peak RSS is measured per phase where Linux lets
the high-water mark be reset (/proc/self/clear_refs), otherwise for the whole process.
Up to 1,000,000 pairs fit in a few GB: judgments are seeded in chunks and exports stream.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exports.run import KINDS, ExportOptions, run_export  # noqa: E402
from labeling.clock import utc_now  # noqa: E402
from labeling.ingest import import_files  # noqa: E402
from labeling.models import PairJudgment, PairVerdict  # noqa: E402
from store import judgments as log  # noqa: E402
from store.db import Store, open_store  # noqa: E402

WORDS = (
    "refund order ebook subscription shipping invoice reader app account password royalty".split()  # noqa: SIM905
)
SEED_CHUNK = 100_000  # judgments appended per statement: bounds the seeding's memory at 10^6 pairs


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


def _turns(rng: random.Random, n: int, turns: int) -> list[dict[str, Any]]:
    """A chat prompt: a system message, `turns` earlier user/assistant exchanges, the question."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are Northwind's support agent."}]
    for turn in range(turns):
        messages.append({"role": "user", "content": f"Earlier {turn} of ticket {n}: " + sentence(rng, 12)})
        messages.append({"role": "assistant", "content": sentence(rng, 20)})
    messages.append({"role": "user", "content": f"Ticket {n}: " + sentence(rng, 30)})
    return messages


def _tool_turns(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """A prompt that ends with a tool result (OpenAI-style call with an id)."""
    call = {
        "id": f"call_{n}",
        "type": "function",
        "function": {"name": "find_order", "arguments": f'{{"order": {n}}}'},
    }
    return [
        {"role": "user", "content": f"Where is order {n}? " + sentence(rng, 20)},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": f"call_{n}", "content": '{"status": "shipped"}'},
    ]


def write_mixed_files(folder: Path, pairs: int, rng: random.Random) -> list[Path]:
    """Files of every format that make `pairs` pairs together, as teams bring them: `pairs`
    records with text and chat prompts (multi-turn, system, tool calls, metadata), `responses`
    records of three answers (three pairs each), TRL rows (conversational and standard, explicit
    and implicit prompts), and Arena battles of one question by several model pairs (items merged
    by prompt). About 55% / 15% / 15% / 15% of the pairs."""
    counts = {"responses": pairs * 15 // 100 // 3, "trl": pairs * 15 // 100, "arena": pairs * 15 // 100}
    counts["pairs"] = pairs - 3 * counts["responses"] - counts["trl"] - counts["arena"]
    writers: dict[str, Callable[[int], dict[str, Any]]] = {}

    def pairs_record(n: int) -> dict[str, Any]:
        kind = n % 10
        prompt: Any = f"Ticket {n}: " + sentence(rng, 30)
        if kind in (1, 2, 3):
            prompt = _turns(rng, n, kind - 1)
        elif kind == 4:
            prompt = _tool_turns(rng, n)
        record: dict[str, Any] = {
            "id": f"p{n}",
            "prompt": prompt,
            "response_a": sentence(rng, 60),
            "response_b": sentence(rng, 60) + " Thanks!",
            "model_a": "bot-v1",
            "model_b": "bot-v2",
        }
        if kind == 5:
            record["system"] = "Be brief."
        if kind in (6, 7):
            record["metadata"] = {"channel": "email", "priority": n % 3}
            record["group_key"] = f"conversation-{n // 4}"
        return record

    def responses_record(n: int) -> dict[str, Any]:
        return {
            "id": f"r{n}",
            "prompt": f"Ticket {n}: " + sentence(rng, 30) if n % 2 else _turns(rng, n, 1),
            "responses": [
                {
                    "model": f"bot-v{m}",
                    "content": sentence(rng, 60) + f" ({m})",
                    **({"latency_ms": 300 + m} if n % 3 == 0 else {}),
                }
                for m in range(3)
            ],
        }

    def trl_record(n: int) -> dict[str, Any]:
        chosen, rejected = sentence(rng, 60), sentence(rng, 60) + " Sorry."
        if n % 3 == 0:  # standard, implicit prompt
            prompt = f"Ticket {n}: " + sentence(rng, 30)
            return {"chosen": f"{prompt} {chosen}", "rejected": f"{prompt} {rejected}"}
        if n % 3 == 1:  # conversational, explicit prompt
            return {
                "id": f"t{n}",
                "prompt": _turns(rng, n, 0),
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
            }
        question = _turns(rng, n, 1)  # conversational, implicit prompt
        return {
            "chosen": [*question, {"role": "assistant", "content": chosen}],
            "rejected": [*question, {"role": "assistant", "content": rejected}],
        }

    questions: dict[int, list[dict[str, Any]]] = {}

    def arena_record(n: int) -> dict[str, Any]:
        question = n // 3  # each question battled by three model pairs
        if question not in questions:
            questions.clear()
            questions[question] = _turns(rng, question, question % 2)[1:]  # no system prompt
        history = questions[question]
        model_a, model_b = f"model-{n % 7}", f"model-{(n % 7) + 1}"
        return {
            "question_id": f"q{question}",
            "model_a": model_a,
            "model_b": model_b,
            "winner": ("model_a", "model_b", "tie", "tie (bothbad)")[n % 4],
            "conversation_a": [*history, {"role": "assistant", "content": sentence(rng, 60) + f" {model_a}"}],
            "conversation_b": [*history, {"role": "assistant", "content": sentence(rng, 60) + f" {model_b}"}],
            "judge": f"arena_user_{n % 50}",
            "language": "English",
            "tstamp": 1_700_000_000 + n,
        }

    writers.update(pairs=pairs_record, responses=responses_record, trl=trl_record, arena=arena_record)
    paths = []
    for fmt, write in writers.items():
        path = folder / f"{fmt}.jsonl"
        with path.open("wb") as handle:
            for n in range(counts[fmt]):
                handle.write(orjson.dumps(write(n)) + b"\n")
        paths.append(path)
    return paths


# What an import stores, in order, without what differs from run to run (import ids, times).
STORED_ROWS = {
    "items": "SELECT id, dataset, source_id, prompt, prompt_hash, group_key, metadata, seq FROM items "
    "ORDER BY seq",
    "responses": "SELECT id, item_id, model, content, metadata FROM responses ORDER BY id",
    "pairs": "SELECT id, item_id, response_a_id, response_b_id, metadata, seq FROM pairs ORDER BY seq",
    "imports": "SELECT dataset, format, sources, items_added, responses_added, pairs_added FROM imports "
    "ORDER BY imported_at",
}


def stored_digest(store: Store) -> str:
    """A hash of every stored item, response, pair and import record, in order (`--digest`): the
    same files give the same digest before and after a change to the import (the files' folder,
    a new temporary one each run, left out)."""
    digest = hashlib.sha256()
    with store.cursor() as cur:
        for table, query in STORED_ROWS.items():
            digest.update(table.encode())
            cur.execute(query)
            while rows := cur.fetchmany(50_000):
                for row in rows:
                    if table == "imports":
                        sources = [{**src, "path": Path(src["path"]).name} for src in json.loads(row[2])]
                        row = (*row[:2], sources, *row[3:])
                    digest.update(repr(row).encode())
    return digest.hexdigest()[:16]


def import_mixed(
    folder: Path, pairs: int, rng: random.Random, record: Callable[..., None], digest: bool = False
) -> None:
    """The import figures on realistic files (write_mixed_files): the first import, then the
    same files again (adds nothing), each with its peak RSS, in a store of their own."""
    files = write_mixed_files(folder, pairs, rng)
    store = open_store(folder / "mixed.duckdb")
    try:
        cpu = time.process_time()
        times, peak, report = measure(1, lambda: import_files(store, files, dataset="mixed"))
        cpu_first, cpu = time.process_time() - cpu, time.process_time()
        assert report.pairs_added == pairs, report
        record("import_mixed", f"import {pairs:,} pairs, mixed files", times, peak, report.pairs_added)
        times, peak, again = measure(1, lambda: import_files(store, files, dataset="mixed"))
        cpu_again = time.process_time() - cpu
        assert not again.added_anything and again.items_already_stored == report.items_added, again
        record("reimport_mixed_unchanged", "import the same mixed files again", times, peak)
        # CPU seconds of every thread (DuckDB's included): what the import costs, however
        # busy the machine's cores are with other work
        print(f"import CPU seconds (all threads): first {cpu_first:.2f}, again {cpu_again:.2f}")
        record("import_mixed_cpu", "CPU seconds of the mixed import", [round(cpu_first, 2)], peak)
        record("reimport_mixed_cpu", "CPU seconds of importing it again", [round(cpu_again, 2)], peak)
        if digest:
            print(f"stored rows digest (mixed files): {stored_digest(store)}")
    finally:
        store.close()
        for path in [*files, folder / "mixed.duckdb", folder / "mixed.duckdb.wal"]:
            path.unlink(missing_ok=True)


def import_only(args: argparse.Namespace) -> None:
    """`--import-only`: the import figures alone (mixed files, then the plain `pairs` file)."""
    rng = random.Random(1)
    results: dict[str, Any] = {"pairs": args.pairs}
    rows: list[tuple[str, str, str, int]] = []

    def record(key: str, label: str, times: list[float], peak: int, records: object = "") -> None:
        results[f"{key}_s"], results[f"{key}_peak_rss_mb"] = times[0], peak
        rows.append((label, span(times), str(records), peak))

    print(f"load average before: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        import_mixed(folder, args.pairs, rng, record, args.digest)
        source = folder / "pairs.jsonl"
        write_pairs(source, args.pairs, rng)
        store = open_store(folder / "plain.duckdb")
        cpu = time.process_time()
        times, peak, report = measure(1, lambda: import_files(store, [source], dataset="bench"))
        assert report.pairs_added == args.pairs, report
        record("import", f"import {args.pairs:,} pairs, plain pairs file", times, peak, report.pairs_added)
        record("import_cpu", "CPU seconds of the plain import", [round(time.process_time() - cpu, 2)], peak)
        if args.digest:
            print(f"stored rows digest (plain pairs file): {stored_digest(store)}")
        times, peak, again = measure(1, lambda: import_files(store, [source], dataset="bench"))
        assert not again.added_anything
        record("reimport_unchanged", "import the same file again", times, peak)
        store.close()
    print(f"load average after: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    print(f"{'measure':<44}{'seconds':>14}{'records':>12}{'peak RSS MB':>13}")
    for label, seconds, records, peak in rows:
        print(f"{label:<44}{seconds:>14}{records:>12}{peak:>13}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_name("import.json").write_text(json.dumps(results, indent=2) + "\n")


def seed_judgments(store: Store, rng: random.Random) -> int:
    """One judgment per pair: 60% left, 20% right, 10% tie, 10% both bad."""
    with store.cursor() as cur:
        pairs = cur.execute(
            "SELECT id, item_id, response_a_id, response_b_id FROM pairs ORDER BY seq"
        ).fetchall()
    now = datetime(2026, 1, 1)
    verdicts = [PairVerdict.LEFT] * 6 + [PairVerdict.RIGHT] * 2 + [PairVerdict.TIE, PairVerdict.BOTH_BAD]
    for start in range(0, len(pairs), SEED_CHUNK):
        judgments = [
            PairJudgment(f"bench-{n:09d}", "bench", item, pair, a, b, rng.choice(verdicts), "", now, now)
            for n, (pair, item, a, b) in enumerate(pairs[start : start + SEED_CHUNK], start=start)
        ]
        store.write(lambda tx, batch=judgments: log.append_pair_judgments(tx.cur, batch))
    return len(pairs)


def _reset_peak() -> bool:
    """Reset this process's peak RSS (Linux: VmHWM); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_mb() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def measure(
    runs: int, step: Callable[[], Any], after: Callable[[], None] = lambda: None
) -> tuple[list[float], int, Any]:
    """Run step() `runs` times (then after(), untimed): the wall times, the peak RSS (MB) while it
    ran, its last result."""
    times, result = [], None
    gc.collect()
    _reset_peak()
    for _ in range(runs):
        started = time.perf_counter()
        result = step()
        times.append(round(time.perf_counter() - started, 2))
        after()
    return times, _peak_mb(), result


def span(times: list[float]) -> str:
    return f"{min(times):.2f}" if min(times) == max(times) else f"{min(times):.2f}–{max(times):.2f}"


Record = Callable[..., None]


def measure_exports(store: Store, out: Path, args: argparse.Namespace, record: Record) -> dict[str, Any]:
    """The export part: an eval split (which registers eval items), an export keeping them out,
    then every kind and target (or those named by --exports). Returns figures beyond timings."""
    extra: dict[str, Any] = {}
    wanted = {name for name in args.exports.split(",") if name}

    def export(kind: str, target: str, options: ExportOptions) -> Callable[[], Any]:
        return lambda: run_export(store, out, kind=kind, target=target, options=options, now=utc_now)

    def remove_export() -> None:  # at 10^6 pairs an export is 1-2 GB: keep one at a time
        shutil.rmtree(out)

    if not wanted or "split" in wanted:
        split = ExportOptions(eval_fraction=0.1, seed=1)
        times, peak, manifest = measure(1, export("dpo", "trl", split), remove_export)  # registers eval items
        record(
            "export_dpo_trl_eval_split",
            "export dpo trl --eval-fraction 0.1",
            times,
            peak,
            manifest["records"],
        )
        extra["export_dpo_trl_eval_split_clusters"] = manifest["split"]["clusters"]
        times, peak, manifest = measure(args.repeat, export("dpo", "trl", ExportOptions()), remove_export)
        record(
            "export_dpo_trl_keeping_eval_items_out",
            "export dpo trl keeping eval items out",
            times,
            peak,
            manifest["records"],
        )
    overlap = ExportOptions(allow_eval_overlap=True)  # every kind exports every judged pair
    per_kind = {"evals": ExportOptions(all_items=True), "judgments": ExportOptions()}
    for kind, targets in KINDS.items():
        for target in targets:
            if wanted and f"{kind}:{target}" not in wanted:
                continue
            options = per_kind.get(kind, overlap)
            times, peak, manifest = measure(args.repeat, export(kind, target, options), remove_export)
            record(f"export_{kind}_{target}", f"export {kind} {target}", times, peak, manifest["records"])
    return extra


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per export (the table gives the range)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "import_export.json")
    parser.add_argument(
        "--exports",
        default="",
        help="only these exports, e.g. 'dpo:trl,split' (split: the two eval-split runs); all when empty",
    )
    parser.add_argument("--import-only", action="store_true", help="import figures only (import.json)")
    parser.add_argument(
        "--digest", action="store_true", help="with --import-only: print a hash of the rows imports stored"
    )
    args = parser.parse_args()
    if args.import_only:
        return import_only(args)
    rng = random.Random(1)
    results: dict[str, Any] = {"pairs": args.pairs, "repeat": args.repeat}
    rows: list[tuple[str, str, str, int]] = []  # measure, seconds, records, peak RSS MB

    def record(key: str, label: str, times: list[float], peak: int, records: object = "") -> None:
        results[f"{key}_s"] = times if len(times) > 1 else times[0]
        results[f"{key}_peak_rss_mb"] = peak
        if records != "":
            results[f"{key}_records"] = records
        rows.append((label, span(times), str(records), peak))

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        import_mixed(folder, args.pairs, rng, record)
        source = folder / "pairs.jsonl"
        write_pairs(source, args.pairs, rng)
        results["file_mb"] = round(source.stat().st_size / 1e6, 1)
        store = open_store(folder / "bench.duckdb")
        times, peak, report = measure(1, lambda: import_files(store, [source], dataset="bench"))
        assert report.pairs_added == args.pairs, report
        record("import", f"import {args.pairs:,} pairs", times, peak, report.pairs_added)
        times, peak, again = measure(1, lambda: import_files(store, [source], dataset="bench"))
        assert not again.added_anything
        record("reimport_unchanged", "import the same file again", times, peak)
        results["judgments"] = seed_judgments(store, rng)

        results.update(measure_exports(store, folder / "export", args, record))
        store.close()
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(f"{'measure':<44}{'seconds':>14}{'records':>12}{'peak RSS MB':>13}")
    for label, seconds, records, peak in rows:
        print(f"{label:<44}{seconds:>14}{records:>12}{peak:>13}")
    print(f"{'peak RSS of the whole run (MB)':<44}{results['peak_rss_mb']:>14}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
