"""Judging under load through the REST API of a real server (`prefdesk serve`, its own process).

    python bench/load.py [--items 100000] [--seeded 1000000] [--levels 1,8,32] [--seconds 15]
    python bench/load.py --scarce          # overlap 1, 3,000 pairs, annotators competing for them

Builds a store with --items pairs and --seeded judgments already in it (by 10 seed annotators),
serves it with an overlap of one judgment more than each pair has, then for each level runs
that many annotators at once (each its own user and token) in a separate load process: every
judgment is GET /pairs/next + POST /judgments (naming the showing), timed from the client.
Afterwards it checks that every acknowledged judgment is stored once and that no pair got more
judgments than asked. `--scarce` serves few pairs with an overlap of 1, so that annotators
compete for the same pairs: a verdict on a pair someone else judged first is refused (409) and
counted, never stored. The server runs with `--judgment-rate 0`: these annotators judge as fast
as the server answers, far past the per-annotator limit a served desk has by default.
Prints a table and writes bench/results/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx
from import_export import write_pairs  # the same synthetic tickets as the import/export bench

from labeling import tokens, users
from labeling.clock import utc_now
from labeling.ingest import import_files
from store.db import Tx, open_store

SEED_ANNOTATORS = 10


def build_store(db: Path, items: int, seeded: int, annotators: int) -> dict[str, str]:
    """A store with `items` pairs, `seeded` judgments and one token per load annotator."""
    source = db.with_suffix(".jsonl")
    write_pairs(source, items, random.Random(1))
    store = open_store(db)
    import_files(store, [source], dataset="load")
    per_annotator = min(items, -(-seeded // SEED_ANNOTATORS)) if seeded else 0

    def seed(tx: Tx) -> None:
        cur = tx.cur
        # Synthetic history, written in bulk: SEED_ANNOTATORS people who judged the first pairs.
        cur.execute(
            """
            INSERT INTO judgments (id, kind, annotator, item_id, pair_id, left_id, right_id, verdict,
                                   tags, shown_at, submitted_at)
            SELECT 'seed-' || k || '-' || p.seq, 'pair', 'seed' || k, p.item_id, p.id, p.response_a_id,
                   p.response_b_id, CASE WHEN hash(p.id, k) % 10 < 6 THEN 'left' ELSE 'right' END, '[]',
                   TIMESTAMP '2026-01-01', TIMESTAMP '2026-01-01'
            FROM (SELECT * FROM pairs ORDER BY seq LIMIT ?) p, range(?) AS r(k)
            """,
            [per_annotator, SEED_ANNOTATORS],
        )

    store.write(seed)
    made = {}
    for n in range(annotators):
        name = f"u{n:02d}"
        users.add_user(store, name, "annotator", "load-password-1", utc_now)
        made[name] = tokens.create_token(store, name, "bench", utc_now)[0]
    store.close()
    return made


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    db: Path, port: int, overlap: int, engine_threads: int | None = None
) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apps.cli",
            "serve",
            "--db",
            str(db),
            "--port",
            str(port),
            "--overlap",
            str(overlap),
            "--judgment-rate",
            "0",
            *(["--engine-threads", str(engine_threads)] if engine_threads else []),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        if process.poll() is not None:
            raise SystemExit(process.stdout.read() if process.stdout else "the server exited")
        time.sleep(0.2)
    raise SystemExit("the server did not start")


def memory_mb(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return {"rss_mb": round(fields["VmRSS"], 1), "peak_rss_mb": round(fields["VmHWM"], 1)}


async def annotator_loop(
    url: str, name: str, token: str, until: float, timings: list[float], acked: list[str], refused: list[int]
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url + "api/v1", headers=headers, timeout=60) as client:
        while time.monotonic() < until:
            start = time.perf_counter()
            shown = (await client.get("/pairs/next")).json()["pair"]
            if shown is None:
                return
            body = {
                "client_id": uuid.uuid4().hex,
                "showing_id": shown["showing_id"],
                "pair_id": shown["pair_id"],
                "left_id": shown["left"]["id"],
                "right_id": shown["right"]["id"],
                "verdict": "left",
            }
            response = await client.post("/judgments", json=body)
            if response.status_code == 409:  # the pair has its judgments: taken by someone else
                refused.append(1)
                continue
            if response.status_code != 201:
                raise RuntimeError(f"submit refused: {response.status_code} {response.text}")
            timings.append(time.perf_counter() - start)
            acked.append(f"{name}/{body['client_id']}")  # the stored id: client ids are per annotator


def load_process(
    url: str, tokens_used: list[tuple[str, str]], seconds: float, out: multiprocessing.Queue
) -> None:  # type: ignore[type-arg]
    """The load generator: its own process, one asyncio task per annotator."""
    timings: list[float] = []
    acked: list[str] = []
    refused: list[int] = []

    async def main() -> None:
        until = time.monotonic() + seconds
        await asyncio.gather(
            *(annotator_loop(url, name, token, until, timings, acked, refused) for name, token in tokens_used)
        )

    started, cpu = time.perf_counter(), time.process_time()
    asyncio.run(main())
    out.put(
        {
            "timings": timings,
            "acked": acked,
            "refused": len(refused),
            "elapsed": time.perf_counter() - started,
            "cpu": time.process_time() - cpu,
        }
    )


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]
        if len(values) > 1
        else values[0]
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run_level(
    url: str, names_tokens: list[tuple[str, str]], seconds: float, server_pid: int
) -> dict[str, object]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=load_process, args=(url, names_tokens, seconds, queue))
    server_cpu = cpu_seconds(server_pid)
    process.start()
    result = queue.get(timeout=seconds + 300)
    process.join()
    server_cpu = cpu_seconds(server_pid) - server_cpu
    timings = [t * 1000 for t in result["timings"]]
    return {
        "annotators": len(names_tokens),
        "judgments": len(timings),
        "judgments_per_s": round(len(timings) / result["elapsed"], 1),
        "p50_ms": round(percentile(timings, 50), 1),
        "p95_ms": round(percentile(timings, 95), 1),
        "p99_ms": round(percentile(timings, 99), 1),
        "server_cpu_ms_per_judgment": round(1000 * server_cpu / max(len(timings), 1), 1),
        "load_cpu_ms_per_judgment": round(1000 * result["cpu"] / max(len(timings), 1), 1),
        "acked": result["acked"],
        "refused_as_taken": result["refused"],
    }


def verify(db: Path, acked: list[str], overlap: int) -> dict[str, int]:
    store = open_store(db, read_only=True)
    try:
        with store.cursor() as cur:
            cur.execute("CREATE TEMP TABLE acked (id VARCHAR)")
            cur.executemany("INSERT INTO acked VALUES (?)", [[a] for a in acked]) if len(
                acked
            ) < 1000 else None
            stored = cur.execute(
                "SELECT count(*) FROM judgments WHERE kind = 'pair' AND annotator LIKE 'u%'"
            ).fetchone()[0]
            distinct_ids = cur.execute(
                "SELECT count(DISTINCT id) FROM judgments WHERE kind = 'pair' AND annotator LIKE 'u%'"
            ).fetchone()[0]
            over = cur.execute(
                "SELECT count(*) FROM (SELECT pair_id FROM current_pair_judgments "
                "GROUP BY pair_id HAVING count(*) > ?)",
                [overlap],
            ).fetchone()[0]
            ids = {
                row[0] for row in cur.execute("SELECT id FROM judgments WHERE annotator LIKE 'u%'").fetchall()
            }
    finally:
        store.close()
    missing = len(set(acked) - ids)
    return {
        "acknowledged": len(acked),
        "stored": stored,
        "distinct": distinct_ids,
        "missing": missing,
        "pairs_over_overlap": over,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--seeded", type=int, default=1_000_000)
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--scarce", action="store_true", help="overlap 1 on 3,000 pairs, no seeded judgments")
    parser.add_argument(
        "--engine-threads", type=int, help="prefdesk serve --engine-threads (default: its own)"
    )
    args = parser.parse_args()
    if args.scarce:
        args.items, args.seeded = 3_000, 0
    print(
        f"$ python bench/load.py --items {args.items} --seeded {args.seeded} --levels {args.levels} "
        f"--seconds {args.seconds}{' --scarce' if args.scarce else ''}"
        f"{f' --engine-threads {args.engine_threads}' if args.engine_threads else ''}"
    )
    levels = [int(x) for x in args.levels.split(",")]

    folder = Path(tempfile.mkdtemp(prefix="prefdesk-load-"))
    db = folder / "load.duckdb"
    started = time.perf_counter()
    made = build_store(db, args.items, args.seeded, max(levels))
    setup_s = time.perf_counter() - started
    # One more judgment per pair than the seed annotators gave; scarce: one, annotators competing.
    overlap = 1 if args.scarce else (SEED_ANNOTATORS if args.seeded else 0) + 1
    port = free_port()
    server = start_server(db, port, overlap, args.engine_threads)
    url = f"http://127.0.0.1:{port}/"
    rows = []
    acked: list[str] = []
    try:
        idle = memory_mb(server.pid)
        for level in levels:
            row = run_level(url, list(made.items())[:level], args.seconds, server.pid)
            acked.extend(row.pop("acked"))  # type: ignore[arg-type]
            rows.append({**row, **memory_mb(server.pid)})
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    checks = verify(db, acked, overlap)
    print(
        f"store: {args.items:,} pairs, {args.seeded:,} judgments stored before the run "
        f"(built in {setup_s:.0f} s)"
    )
    print(f"server RSS idle (index loaded): {idle['rss_mb']} MB")
    print(
        f"{'annotators':>10} {'judgments':>10} {'per s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'RSS/peak MB':>12} {'server CPU ms':>14} {'load CPU ms':>12} {'409 taken':>10}"
    )
    for row in rows:
        print(
            f"{row['annotators']:>10} {row['judgments']:>10} {row['judgments_per_s']:>8} {row['p50_ms']:>8} "
            f"{row['p95_ms']:>8} {row['p99_ms']:>8} {str(row['rss_mb']) + '/' + str(row['peak_rss_mb']):>12} "
            f"{row['server_cpu_ms_per_judgment']:>14} {row['load_cpu_ms_per_judgment']:>12} "
            f"{row['refused_as_taken']:>10}"
        )
    print(
        f"checks: {checks['acknowledged']} acknowledged, {checks['stored']} stored "
        f"({checks['distinct']} distinct), "
        f"{checks['missing']} missing, {checks['pairs_over_overlap']} pairs judged more often than asked"
    )
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "load.json").write_text(
        json.dumps(
            {
                "items": args.items,
                "seeded": args.seeded,
                "idle": idle,
                "levels": rows,
                "checks": checks,
                "cpu_count": os.cpu_count(),
            },
            indent=2,
        )
    )
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


if __name__ == "__main__":
    main()
