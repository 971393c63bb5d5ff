"""Which export files the desk may send: only files of exports it wrote and recorded.

path = export_file(store, Path("exports"), "dpo-trl-20261202-101500-1a2b3c", "dpo_trl.jsonl")
# None unless the store recorded an export into that folder and the file is a regular file
"""

from __future__ import annotations

import stat
from pathlib import Path

from store import registry
from store.db import Store


def export_file(store: Store, exports_dir: Path, folder: str, name: str) -> Path | None:
    """The file `name` of the export in `exports_dir/folder`, or None: the folder must be one an
    export was recorded into (not any folder someone put there), and neither it nor the file may
    be a symbolic link (a link could point anywhere on the server)."""
    folder_path = exports_dir / folder
    path = folder_path / name
    try:
        if folder_path.is_symlink() or not stat.S_ISREG(path.lstat().st_mode):
            return None
    except OSError:
        return None
    with store.cursor() as cur:
        if not registry.export_written_to(cur, str(folder_path.resolve())):
            return None
    return path
