"""Backups as a folder of Parquet files (DuckDB's EXPORT DATABASE) plus `backup.json`, and
restores into a new store file. A restored store exports byte-identical files.

    write_backup(store, Path("backups/2026-11-23"))
    restore_backup(Path("backups/2026-11-23"), Path("restored.duckdb"))
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from store.db import Store, _apply_migrations, latest_schema_version, make_private, open_store
from store.errors import StoreError

MANIFEST = "backup.json"


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
        "schema_sha256": _sha256(out_dir / "schema.sql"),
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for path in out_dir.iterdir():
        make_private(path)
    return manifest


def _quoted(path: Path) -> str:
    return str(path.resolve()).replace("'", "''")


def restore_backup(backup_dir: Path, db: Path) -> dict[str, Any]:
    """Create the store `db` (which must not exist) from a backup folder, checking every file.

    Nothing in the folder is run as it is: its schema.sql must be, line for line, the schema this
    prefdesk's migrations make at the backup's schema version (only sequence start numbers may
    differ), its tables are exactly that schema's tables, and each data file has the hash that
    backup.json gives. A folder that fails any check is refused before `db` is created.
    """
    manifest = _read_manifest(backup_dir)
    version: int = manifest["schema_version"]
    schema, tables = _known_schema(version)
    restored_schema = _checked_schema(backup_dir, manifest, schema)
    _check_files(backup_dir, manifest, tables)
    if db.exists():
        raise StoreError(f"{db} exists: restore into a new file")
    if not db.resolve().parent.is_dir():
        raise StoreError(f"cannot create {db}: folder {db.resolve().parent} does not exist")
    connection = duckdb.connect(str(db))
    try:
        # The known schema (with the backup's sequence positions), then each known table from its
        # Parquet file wherever the folder now is. Table names come from the schema, not the folder.
        connection.execute(restored_schema)
        for table in tables:
            connection.execute(
                f'INSERT INTO "{table}" SELECT * FROM read_parquet(?)', [str(backup_dir / f"{table}.parquet")]
            )
        restored = {
            table: int(connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])  # type: ignore[index]
            for table in tables
        }
    except duckdb.Error as exc:
        connection.close()
        db.unlink(missing_ok=True)
        raise StoreError(
            f"the backup in {backup_dir} does not fit the schema it names ({exc}): nothing was restored"
        ) from exc
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


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _read_manifest(backup_dir: Path) -> dict[str, Any]:
    """backup.json, with every field the restore reads checked for its type."""
    manifest_path = backup_dir / MANIFEST
    if not manifest_path.is_file():
        raise StoreError(f"{backup_dir} is not a prefdesk backup: {MANIFEST} is missing")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{manifest_path} is not valid JSON ({exc}): the backup cannot be restored") from exc

    def refuse(field: str, expected: str) -> StoreError:
        return StoreError(f"{manifest_path}: {field}: expected {expected}; the backup cannot be restored")

    if not isinstance(manifest, dict):
        raise refuse("(the whole file)", "an object")
    version = manifest.get("schema_version")
    if type(version) is not int or version < 1:
        raise refuse("schema_version", "a positive whole number")
    if version > latest_schema_version():
        raise StoreError(
            f"the backup has schema version {version}; this prefdesk knows up to "
            f"{latest_schema_version()}: upgrade prefdesk to restore it"
        )
    rows, files = manifest.get("rows"), manifest.get("files")
    if not isinstance(rows, dict) or not all(type(n) is int and n >= 0 for n in rows.values()):
        raise refuse("rows", "an object of table names and row counts")
    if not isinstance(files, dict) or not all(
        isinstance(d, str) and _SHA256.match(d) for d in files.values()
    ):
        raise refuse("files", "an object of file names and SHA-256 hashes")
    digest = manifest.get("schema_sha256")
    if digest is not None and not (isinstance(digest, str) and _SHA256.match(digest)):
        raise refuse("schema_sha256", "a SHA-256 hash")
    return manifest


def _known_schema(version: int) -> tuple[str, list[str]]:
    """schema.sql as EXPORT DATABASE writes it for a store at `version` made by this prefdesk's
    migrations, and that store's tables."""
    reference = duckdb.connect(":memory:")
    try:
        _apply_migrations(reference, ":memory:", up_to=version)
        tables = [
            t for (t,) in reference.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
        ]
        with tempfile.TemporaryDirectory(prefix="prefdesk-schema-") as scratch:
            reference.execute(f"EXPORT DATABASE '{_quoted(Path(scratch))}' (FORMAT parquet)")
            schema = (Path(scratch) / "schema.sql").read_text(encoding="utf-8")
    finally:
        reference.close()
    return schema, tables


# A sequence's line: where it stands is the only part of schema.sql that is the backup's own.
_SEQUENCE = re.compile(
    r"^CREATE SEQUENCE (?P<name>[a-z_]+) INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 "
    r"START (?P<start>[0-9]{1,18}) NO CYCLE;;$"
)


def _checked_schema(backup_dir: Path, manifest: dict[str, Any], known: str) -> str:
    """The known schema with the backup's sequence positions, once the backup's schema.sql is
    found to be exactly the known schema apart from those positions."""
    path = backup_dir / "schema.sql"
    if not path.is_file():
        raise StoreError(f"{path} is missing: the backup cannot be restored")
    if manifest.get("schema_sha256") not in (None, _sha256(path)):
        raise StoreError(f"the backup file {path} is missing or changed since the backup was made")
    try:
        given = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise StoreError(f"{path} is not text ({exc}): the backup cannot be restored") from exc
    expected = known.split("\n")
    restored: list[str] = []
    for number, known_line in enumerate(expected, start=1):
        line = given[number - 1] if number <= len(given) else "(the end of the file)"
        known_sequence, sequence = _SEQUENCE.match(known_line), _SEQUENCE.match(line)
        if known_sequence and sequence and known_sequence["name"] == sequence["name"]:
            restored.append(
                known_line.replace(f"START {known_sequence['start']} ", f"START {int(sequence['start'])} ")
            )
        elif line == known_line:
            restored.append(known_line)
        else:
            raise _unknown_schema(path, manifest, number, line)
    if len(given) > len(expected):
        raise _unknown_schema(path, manifest, len(expected) + 1, given[len(expected)])
    return "\n".join(restored)


def _unknown_schema(path: Path, manifest: dict[str, Any], number: int, line: str) -> StoreError:
    shown = line if len(line) <= 120 else line[:117] + "..."
    return StoreError(
        f"{path}:{number}: this is not the schema prefdesk makes at schema version "
        f"{manifest['schema_version']} (the line reads {shown!r}): the backup was altered or "
        "made by another program, and is not restored; nothing was changed"
    )


def _check_files(backup_dir: Path, manifest: dict[str, Any], tables: list[str]) -> None:
    """backup.json names exactly the known tables, and every data file has its recorded hash."""
    expected_files = {f"{table}.parquet" for table in tables}
    for field, names, expected in (
        ("files", set(manifest["files"]), expected_files),
        ("rows", set(manifest["rows"]), set(tables)),
    ):
        if names != expected:
            unknown = sorted(names - expected)
            missing = sorted(expected - names)
            raise StoreError(
                f"{backup_dir / MANIFEST}: {field}: "
                + (f"names no table of this schema: {', '.join(map(repr, unknown))}" if unknown else "")
                + ("; " if unknown and missing else "")
                + (f"lacks {', '.join(missing)}" if missing else "")
                + ": the backup was altered, and is not restored; nothing was changed"
            )
    for name in sorted(expected_files):
        path = backup_dir / name
        if not path.is_file() or _sha256(path) != manifest["files"][name]:
            raise StoreError(f"the backup file {path} is missing or changed since the backup was made")
