"""The audit log: account and token changes, appended in the transaction that makes them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    changed_at: datetime
    actor: str | None
    action: str
    target: str
    detail: dict[str, Any]


def record(
    cur: duckdb.DuckDBPyConnection,
    *,
    at: datetime,
    actor: str | None,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
) -> None:
    cur.execute(
        "INSERT INTO audit_log (changed_at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
        [at, actor, action, target, json.dumps(detail or {}, sort_keys=True)],
    )


_COLUMNS = "seq, changed_at, actor, action, target, detail"


def _event(row: tuple[Any, ...]) -> AuditEvent:
    seq, changed_at, actor, action, target, detail = row
    return AuditEvent(seq, changed_at, actor, action, target, json.loads(detail))


def events_after(cur: duckdb.DuckDBPyConnection, after_seq: int, limit: int) -> list[AuditEvent]:
    """Events after a sequence number, oldest first."""
    rows = cur.execute(
        f"SELECT {_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", [after_seq, limit]
    ).fetchall()
    return [_event(row) for row in rows]


def last_events(cur: duckdb.DuckDBPyConnection, limit: int) -> list[AuditEvent]:
    """The newest `limit` events, oldest first."""
    rows = cur.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT ?", [limit]).fetchall()
    return [_event(row) for row in reversed(rows)]
