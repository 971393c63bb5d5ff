"""Opening a store: one DuckDB file, migrations applied at open, one connection per process.

store = open_store("desk.duckdb")      # or open_store(":memory:") in tests
with store.cursor() as cur:            # a cursor per call: safe across the server's threads
    cur.execute("SELECT count(*) FROM items").fetchone()
store.write(lambda tx: tx.cur.execute("UPDATE ..."))   # every write: on the one writer thread
"""

from __future__ import annotations

import asyncio
import difflib
import os
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TypeVar

import duckdb

from store.errors import (
    StoreClosed,
    StoreError,
    StoreLockedError,
    StoreMissingError,
    StoreTooNewError,
)
from store.secrets import ensure_secrets
from store.writer import Cursor, Listener, Tx, Writer

__all__ = ["Cursor", "Store", "Tx", "open_store"]

T = TypeVar("T")

_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<exe>\S+) \(PID (?P<pid>\d+)\)")
_MIGRATION_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The numbered SQL files shipped in store/migrations, in order."""
    found = []
    for entry in resources.files("store.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match["version"]), match["name"], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    return found


def latest_schema_version() -> int:
    return migrations()[-1].version


class Store:
    """The process's one connection to a store. Read with `cursor()`; write with `write(unit)` or
    `submit(unit)`, which run on the store's one writer thread (store/writer.py)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, path: str, *, read_only: bool = False) -> None:
        self._connection = connection
        self.path = path
        self.read_only = read_only
        self._cursor_lock = threading.Condition()
        self._closed = False
        self._reading = 0  # cursors in use: close() lets them finish
        self._writer = Writer(connection, path, after_commit=self._keep_journal_private)

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for reading (DuckDB readers see committed data and never wait for a write)."""
        # The connection object is not thread-safe; each cursor is, so only making one is guarded.
        with self._cursor_lock:
            if self._closed:
                raise StoreClosed(f"the store {self.path} was closed: nothing was read")
            cur = self._connection.cursor()
            self._reading += 1
        try:
            yield cur
        finally:
            cur.close()
            with self._cursor_lock:
                self._reading -= 1
                self._cursor_lock.notify_all()

    @contextmanager
    def snapshot(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor whose reads all see one state of the store (one read transaction): an export
        reading texts batch by batch sees the votes it selected, whatever is judged meanwhile."""
        with self.cursor() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            finally:
                cur.execute("ROLLBACK")

    def write(self, unit: Callable[[Tx], T]) -> T:
        """Run `unit(tx)` in one transaction on the writer thread and return its result once
        committed. Any error rolls it back (nothing stored) and reaches the caller; the engine's
        as StoreError. Inside another unit it runs inline, in that unit's transaction."""
        self._check_writable()
        return self._writer.write(unit)

    def submit(self, unit: Callable[[Tx], T], *, batch: bool = False, one_write: bool = False) -> Future[T]:
        """The same, without waiting: the future is done once committed. `batch=True` for small
        units that check first and write last (judgments): those waiting together commit together.
        `one_write=True` for a unit whose only write is one statement (it may then run alone
        without BEGIN/COMMIT)."""
        self._check_writable()
        return self._writer.submit(unit, batch=batch, one_write=one_write)

    def refuse_waiting_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """A server names its event loop: a write() that would block it raises instead."""
        self._writer.refuse_waiting_on(loop)

    def listen(self, listener: Listener) -> None:
        """Tell `listener` what each commit changed (store/writer.py, Committed)."""
        self._writer.listen(listener)

    @property
    def commits(self) -> int:
        return self._writer.commits

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"the store {self.path} is open for reading only: nothing was written")

    def _keep_journal_private(self) -> None:
        """DuckDB deletes its journal (the .wal file) at each checkpoint and makes a new one, with
        the umask's mode, at the next write; it holds recent writes (password hashes among
        them), so it is made the owner's alone again right after the write that made it."""
        if self.path != ":memory:":
            make_private(Path(self.path + ".wal"))

    def tune_for_serving(self, engine_threads: int | None = None) -> None:
        """For a long-running server: DuckDB's allocator hands freed memory back to the system
        instead of keeping it (reading a million judgments at start left ~130 MB behind), also
        from a thread of its own. `engine_threads`: DuckDB's worker threads (None: its default,
        one per core, which served 8 annotators best: docs/performance.md, bench/load.py
        --engine-threads)."""
        with self.cursor() as cur:
            cur.execute("SET allocator_flush_threshold = '16MB'")
            cur.execute("SET allocator_background_threads = true")
            if engine_threads is not None:
                cur.execute(f"SET threads = {int(engine_threads)}")

    def schema_version(self) -> int:
        with self.cursor() as cur:
            row = cur.execute("SELECT max(version) FROM prefdesk_schema").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def close(self) -> None:
        """Stop the writer (after the writes queued), let reads in flight finish, then close."""
        self._writer.stop()
        with self._cursor_lock:
            self._closed = True
            self._cursor_lock.wait_for(lambda: self._reading == 0, timeout=30)
            self._connection.close()


PRIVATE_FILE = 0o600


def make_private(path: Path) -> None:
    """Readable and writable by its owner only (the store, its journal, backups hold password
    and token hashes). A file that is not there, or not ours, is left as it is."""
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(PRIVATE_FILE)
    except OSError:
        pass


@contextmanager
def private_files() -> Iterator[None]:
    """Files created inside the block are their owner's alone: the umask is tightened for the
    block (process-wide: used while a store is created, before any server thread runs)."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _holder_description(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    return " ".join(words)[:200] or None


def _connect(path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(path, read_only=read_only)
    except duckdb.IOException as exc:
        match = _LOCK_HOLDER.search(str(exc))
        if match:
            pid = int(match["pid"])
            raise StoreLockedError(path, pid, _holder_description(pid)) from exc
        raise StoreError(f"could not open the store {path}: {exc}") from exc


def _apply_migrations(connection: duckdb.DuckDBPyConnection, path: str, up_to: int | None = None) -> None:
    """Bring the schema to the latest version (or to version `up_to`: the schema a backup of
    that version must have, store/backup.py)."""
    connection.execute(
        "CREATE TABLE IF NOT EXISTS prefdesk_schema ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    row = connection.execute("SELECT max(version) FROM prefdesk_schema").fetchone()
    current = int(row[0]) if row and row[0] is not None else 0
    known = migrations()
    if current > known[-1].version:
        raise StoreTooNewError(path, current, known[-1].version)
    for migration in known:
        if migration.version <= current or (up_to is not None and migration.version > up_to):
            continue
        connection.execute("BEGIN TRANSACTION")
        try:
            connection.execute(migration.sql)
            connection.execute(
                "INSERT INTO prefdesk_schema VALUES (?, ?, now()::TIMESTAMP)",
                [migration.version, migration.name],
            )
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")


def similar_stores(path: Path) -> list[str]:
    """Stores in the same folder whose names are close to `path`'s (a likely typo), as paths
    spelled like the one given."""
    folder = path.parent
    try:
        names = [
            entry.name for entry in folder.iterdir() if entry.suffix in _STORE_SUFFIXES and entry.is_file()
        ]
    except OSError:
        return []
    close = difflib.get_close_matches(path.name, names, n=3, cutoff=0.6)
    return [str(folder / name) if str(path.parent) != "." else name for name in close]


_STORE_SUFFIXES = (".duckdb", ".db", ".ddb")


def open_store(path: str | Path = ":memory:", *, read_only: bool = False, create: bool = True) -> Store:
    """Open the store at `path` and bring its schema up to date. `create=False`: a missing file
    is an error naming similar stores in that folder (a mistyped --db must not make a new one)."""
    text_path = str(path)
    if text_path != ":memory:":
        given = Path(text_path).expanduser()
        if not given.exists() and (read_only or not create):
            raise StoreMissingError(text_path, similar_stores(given))
        parent = given.resolve().parent
        if not parent.is_dir():
            raise StoreError(f"cannot create the store {text_path}: folder {parent} does not exist")
    if text_path == ":memory:" or Path(text_path).exists():
        connection = _connect(text_path, read_only)
    else:
        with private_files():  # a new store is born private
            connection = _connect(text_path, read_only)
    if text_path != ":memory:" and not read_only:
        make_private(Path(text_path))  # stores made before prefdesk made them private
        make_private(Path(text_path + ".wal"))
    try:
        if read_only:
            version = connection.execute("SELECT max(version) FROM prefdesk_schema").fetchone()
            found = int(version[0]) if version and version[0] is not None else 0
            if found > latest_schema_version():
                raise StoreTooNewError(text_path, found, latest_schema_version())
        else:
            _apply_migrations(connection, text_path)
            ensure_secrets(connection)
    except BaseException:
        connection.close()
        raise
    return Store(connection, text_path, read_only=read_only)
