"""kill -9 of a serving desk loses no acknowledged judgment, and the store opens again."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from gradio_client import Client

from labeling.ingest import import_files
from store.db import open_store
from tests.conftest import (
    PASSWORD,
    add_annotators,
    free_port,
    start_desk_process,
    support_records,
    write_jsonl,
)

pytestmark = pytest.mark.app
SHOWING_ID, CURRENT = 4, 7


def judge(url: str, count: int) -> list[str]:
    """Judge `count` pairs; return the showing ids the server acknowledged."""
    client = Client(url, auth=("ana", PASSWORD), verbose=False)
    view = client.predict(api_name="/next_pair")
    acknowledged = []
    for _ in range(count):
        showing = view[SHOWING_ID]
        view = client.predict(showing, "left", "", api_name="/submit_pair")
        acknowledged.append(showing)
    return acknowledged


def test_every_acknowledged_judgment_survives_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "desk.duckdb"
    store = open_store(db)
    import_files(store, [write_jsonl(tmp_path / "s.jsonl", support_records(30))], dataset="s")
    add_annotators(store, "ana")
    store.close()

    port = free_port()
    process = start_desk_process(db, port)
    try:
        acknowledged = judge(f"http://127.0.0.1:{port}", 12)
    finally:
        os.kill(process.pid, signal.SIGKILL)  # no shutdown, no checkpoint
        process.communicate()  # waits, and closes its pipes

    store = open_store(db)
    with store.cursor() as cur:
        stored = {row[0] for row in cur.execute("SELECT id FROM judgments").fetchall()}
    store.close()
    assert {f"ana/{showing}" for showing in acknowledged} <= stored and len(stored) == 12

    process = start_desk_process(db, port := free_port())  # the desk starts again on the same store
    try:
        judge(f"http://127.0.0.1:{port}", 3)
    finally:
        process.terminate()
        process.communicate(timeout=30)
    store = open_store(db)
    with store.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM current_pair_judgments").fetchone() == (15,)
    store.close()
