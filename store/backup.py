"""Backups as a folder of Parquet files (DuckDB's EXPORT DATABASE) plus `backup.json`, and
restores into a new store file. A restored store exports byte-identical files.

    write_backup(store, Path("backups/2026-11-23"))
    restore_backup(Path("backups/2026-11-23"), Path("restored.duckdb"))
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from store.db import Store, latest_schema_version, make_private, open_store
from store.errors import StoreError

MANIFEST = "backup.json"
_TABLE_FILE = re.compile(r"^[a-z_]+\.parquet$")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_backup(store: Store, out_dir: Path, *, now: datetime, version: str) -> dict[str, Any]:
    """Write every table as Parquet, the schema, and a manifest with row counts and hashes."""
    if out_dir.exists() and any(out_dir.iterdir()):
        raise StoreError(f"the backup folder {out_dir} is not empty: choose a new folder")
    # The folder is the owner's alone before anything is in it: the tables hold password hashes.
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    out_dir.chmod(0o700)
    with store.cursor() as cur:
        cur.execute(f"EXPORT DATABASE '{_quoted(out_dir)}' (FORMAT parquet)")
        tables = [t for (t,) in cur.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        rows = {t: int(cur.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}  # type: ignore[index]
    manifest = {
        "schema_version": store.schema_version(),
        "prefdesk_version": version,
        "created_at": now.isoformat(timespec="seconds") + "Z",
        "source": Path(store.path).name,
        "rows": rows,
        "files": {p.name: _sha256(p) for p in sorted(out_dir.glob("*.parquet"))},
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for path in out_dir.iterdir():
        make_private(path)
    return manifest


def _quoted(path: Path) -> str:
    return str(path.resolve()).replace("'", "''")


def restore_backup(backup_dir: Path, db: Path) -> dict[str, Any]:
    """Create the store `db` (which must not exist) from a backup folder, checking every file."""
    manifest_path = backup_dir / MANIFEST
    if not manifest_path.is_file():
        raise StoreError(f"{backup_dir} is not a prefdesk backup: {MANIFEST} is missing")
    manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest["schema_version"] > latest_schema_version():
        raise StoreError(
            f"the backup has schema version {manifest['schema_version']}; this prefdesk knows up to "
            f"{latest_schema_version()}: upgrade prefdesk to restore it"
        )
    for name, digest in manifest["files"].items():
        path = backup_dir / name
        if not _TABLE_FILE.match(name) or not path.is_file() or _sha256(path) != digest:
            raise StoreError(f"the backup file {path} is missing or changed since the backup was made")
    if db.exists():
        raise StoreError(f"{db} exists: restore into a new file")
    if not db.resolve().parent.is_dir():
        raise StoreError(f"cannot create {db}: folder {db.resolve().parent} does not exist")
    connection = duckdb.connect(str(db))
    try:
        # The schema as exported, then each table from its Parquet file wherever the folder now is.
        connection.execute((backup_dir / "schema.sql").read_text(encoding="utf-8"))
        for name in manifest["files"]:
            table = name.removesuffix(".parquet")
            connection.execute(f"COPY \"{table}\" FROM '{_quoted(backup_dir / name)}' (FORMAT parquet)")
        restored = {
            table: int(connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])  # type: ignore[index]
            for table in manifest["rows"]
        }
    except BaseException:
        connection.close()
        db.unlink(missing_ok=True)
        raise
    connection.close()
    if restored != manifest["rows"]:
        db.unlink(missing_ok=True)
        raise StoreError(f"the restore read {restored} rows but the backup holds {manifest['rows']}")
    open_store(db).close()  # brings an older backup's schema up to date, as any open does
    return manifest
