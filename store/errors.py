"""Errors raised by the store.

StoreError
├── StoreMissingError     no store at that path, and the command does not create one
├── StoreLockedError      another process holds the store file (names its PID)
├── StoreTooNewError      the file was written by a newer prefdesk schema
├── StoreWriteError       the disk refused a write (read-only, full): nothing was stored
├── DuplicateId           a row with that id is stored already (a retried write): nothing new
├── StoreClosed           the store was closed in this process: nothing read or written
└── EventAlreadySuperseded  a second event superseding one event (two undos of one judgment)

Every DuckDB error a write meets reaches callers as one of these (store/writer.py): nothing above
the store imports duckdb or catches its exceptions.
"""


class StoreError(Exception):
    """Base of every error the store raises; the message is meant for a person."""


class StoreMissingError(StoreError):
    def __init__(self, path: str, similar: list[str]) -> None:
        self.path = path
        self.similar = similar
        hint = f" Did you mean {' or '.join(similar)}?" if similar else ""
        super().__init__(
            f"there is no store at {path}.{hint} Check --db (or PREFDESK_DB); a new store is made by "
            f"`prefdesk import FILE --db {path}` (or `prefdesk restore`), never by this command."
        )


class StoreLockedError(StoreError):
    def __init__(self, path: str, pid: int | None, holder: str | None) -> None:
        self.path = path
        self.pid = pid
        who = f"process {pid}" if pid is not None else "another process"
        if holder:
            who += f" ({holder})"
        super().__init__(
            f"the store {path} is in use by {who}. DuckDB lets one process write a store at a "
            f"time, and this one is not a serving desk (commands go through a desk): wait for it to "
            f"finish, or stop it, and run the command again."
        )


class StoreTooNewError(StoreError):
    def __init__(self, path: str, found: int, known: int) -> None:
        super().__init__(
            f"the store {path} has schema version {found}, but this prefdesk knows versions up to "
            f"{known}: it was written by a newer prefdesk. Upgrade prefdesk to open it."
        )


class StoreWriteError(StoreError):
    pass


class DuplicateId(StoreError):
    pass


class StoreClosed(StoreError):
    pass


class EventAlreadySuperseded(StoreError):
    pass
