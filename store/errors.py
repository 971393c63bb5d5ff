"""Errors raised by the store.

StoreError
├── StoreLockedError      another process holds the store file (names its PID)
├── StoreTooNewError      the file was written by a newer prefdesk schema
└── StoreWriteError       the disk refused a write (read-only, full): nothing was stored
"""


class StoreError(Exception):
    """Base of every error the store raises; the message is meant for a person."""


class StoreLockedError(StoreError):
    def __init__(self, path: str, pid: int | None, holder: str | None) -> None:
        self.path = path
        self.pid = pid
        who = f"process {pid}" if pid is not None else "another process"
        if holder:
            who += f" ({holder})"
        super().__init__(
            f"the store {path} is in use by {who}. DuckDB lets one process write a store at a "
            f"time: stop that process (for a running desk, Ctrl+C on `prefdesk serve`) or use "
            f"another --db."
        )


class StoreTooNewError(StoreError):
    def __init__(self, path: str, found: int, known: int) -> None:
        super().__init__(
            f"the store {path} has schema version {found}, but this prefdesk knows versions up to "
            f"{known}: it was written by a newer prefdesk. Upgrade prefdesk to open it."
        )


class StoreWriteError(StoreError):
    pass
