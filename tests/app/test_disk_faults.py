"""A full or read-only disk under the store: a clear error, nothing half-written, and once the
disk is fixed the same requests go through. The store lives on a small tmpfs this test mounts
(root, as in CI); where mounting is not allowed the tests say so and skip."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.cli import main as cli_main
from labeling.ingest import import_files
from store.db import open_store
from store.errors import StoreWriteError
from tests.app.conftest import RestDesk, judgment_body, start_rest_desk
from tests.conftest import support_records, write_jsonl

pytestmark = pytest.mark.app


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({made.stderr.strip()}): needs root")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of the disk; delete the returned file to free them."""
    filler = disk / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True, check=False)
    return filler


def remount(disk: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(disk)], check=True)


def test_an_import_onto_a_full_disk_fails_cleanly_and_stores_nothing(
    small_disk: Path, tmp_path: Path
) -> None:
    store = open_store(small_disk / "desk.duckdb")
    import_files(store, [write_jsonl(tmp_path / "small.jsonl", support_records(6))], dataset="support")
    big = [
        {
            "id": f"b{n}",
            "prompt": "x" * 2000 + str(n),
            "responses": [
                {"model": "a", "content": "y" * 3000 + str(n)},
                {"model": "b", "content": "z" * 3000 + str(n)},
            ],
        }
        for n in range(1500)
    ]
    with pytest.raises(StoreWriteError, match="No space left on device.*nothing was written"):
        import_files(store, [write_jsonl(tmp_path / "big.jsonl", big)], dataset="big")
    with store.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM items").fetchone() == (6,)
        assert cur.execute("SELECT count(*) FROM imports").fetchone() == (1,)
    store.close()
    reopened = open_store(small_disk / "desk.duckdb")
    with reopened.cursor() as cur:
        assert cur.execute("SELECT count(*), count(DISTINCT dataset) FROM items").fetchone() == (6, 1)
    reopened.close()


def submit_body(desk: RestDesk, name: str) -> dict[str, Any]:
    with desk.client(name) as client:
        shown = client.get("/pairs/next").json()["pair"]
    return judgment_body(shown)


def test_judging_on_a_full_disk_answers_503_and_the_retry_lands_once(small_disk: Path) -> None:
    # (A volume cannot be remounted read-only while the server holds the store open for
    # writing; the read-only case is a store opened on a read-only volume, below.)
    desk, server = start_rest_desk(small_disk, items=40)
    try:
        with desk.client("ana") as ana:
            assert ana.post("/judgments", json=submit_body(desk, "ana")).status_code == 201
            filler = fill(small_disk)
            # The log's last page may still have room for a few judgments: each one answered
            # 201 is stored; the first 503 is not.
            for _ in range(30):
                body = submit_body(desk, "ana")
                refused = ana.post("/judgments", json=body)
                if refused.status_code != 201:
                    break
            assert refused.status_code == 503, refused.text
            assert "nothing was written" in refused.json()["error"]
            acknowledged = ana.get("/me").json()["judged"]
            filler.unlink()
            retried = ana.post("/judgments", json=body)
            assert retried.status_code == 201, retried.text
            assert ana.post("/judgments", json=body).json()["duplicate"] is True
            assert ana.get("/me").json()["judged"] == acknowledged + 1
        rows = desk.judgment_rows()
        assert len(rows) == acknowledged + 1 and rows[-1][0] == f"ana/{body['client_id']}"
    finally:
        server.close()
        desk.store.close()


def test_a_store_on_a_read_only_disk_is_refused_with_a_message(
    small_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = small_disk / "desk.duckdb"
    store = open_store(db)
    import_files(store, [write_jsonl(tmp_path / "s.jsonl", support_records(3))], dataset="support")
    store.close()
    remount(small_disk, "ro")
    try:
        assert (
            cli_main(["import", str(write_jsonl(tmp_path / "t.jsonl", support_records(4))), "--db", str(db)])
            == 1
        )
        error = capsys.readouterr().err
        assert error.startswith("error: ") and str(db) in error and "Traceback" not in error
        reading = subprocess.run(
            [sys.executable, "-m", "apps.cli", "stats", "--db", str(db)], capture_output=True, text=True
        )
        # Reading needs no write: stats opens the store read-only and works on a read-only disk.
        assert reading.returncode == 0, reading.stderr
        assert reading.stdout.startswith("items      3\n")
    finally:
        remount(small_disk, "rw")
    reopened = open_store(db)
    with reopened.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM items").fetchone() == (3,)
    reopened.close()
