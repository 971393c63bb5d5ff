"""exports/write.py: every file goes through the atomic writer (temp file beside it, renamed)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from exports import write
from labeling.errors import ExportError

RECORDS = [{"prompt": "Hi?", "chosen": " Hello!", "rejected": " No."}]


def test_write_parquet_replaces_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "dpo_trl.parquet"
    path.write_bytes(b"an older export")
    write.write_parquet(path, RECORDS)
    assert pq.read_table(path).to_pylist() == RECORDS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dpo_trl.parquet"]


def test_a_parquet_file_that_cannot_be_put_in_place_leaves_no_temp_file(tmp_path: Path) -> None:
    blocker = tmp_path / "dpo_trl.parquet"  # a folder with a file in it: the rename fails
    blocker.mkdir()
    (blocker / "keep").write_text("mine")
    with pytest.raises(ExportError, match=r"could not write .*dpo_trl\.parquet"):
        write.write_parquet(blocker, RECORDS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dpo_trl.parquet"]
    assert (blocker / "keep").read_text() == "mine"
