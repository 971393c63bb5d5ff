"""API tokens: the public id, the owner and a hash of the secret (never the token)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from labeling.models import User, UserRole


@dataclass(frozen=True)
class StoredToken:
    id: str
    user_name: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


_COLUMNS = "id, user_name, label, created_at, revoked_at"


def insert_token(
    cur: duckdb.DuckDBPyConnection, token_id: str, user_name: str, secret_hash: str, label: str, now: datetime
) -> None:
    cur.execute(
        "INSERT INTO api_tokens VALUES (?, ?, ?, ?, ?, NULL)", [token_id, user_name, secret_hash, label, now]
    )


def active_owner(cur: duckdb.DuckDBPyConnection, token_id: str) -> tuple[User, str] | None:
    """The owner of an unrevoked token and the token's secret hash."""
    row = cur.execute(
        "SELECT u.name, u.role, t.secret_hash FROM api_tokens t JOIN users u ON u.name = t.user_name "
        "WHERE t.id = ? AND t.revoked_at IS NULL",
        [token_id],
    ).fetchone()
    return (User(row[0], UserRole(row[1])), row[2]) if row else None


def get_token(cur: duckdb.DuckDBPyConnection, token_id: str) -> StoredToken | None:
    row = cur.execute(f"SELECT {_COLUMNS} FROM api_tokens WHERE id = ?", [token_id]).fetchone()
    return StoredToken(*row) if row else None


def list_tokens(cur: duckdb.DuckDBPyConnection) -> list[StoredToken]:
    rows = cur.execute(f"SELECT {_COLUMNS} FROM api_tokens ORDER BY created_at, id").fetchall()
    return [StoredToken(*row) for row in rows]


def revoke(cur: duckdb.DuckDBPyConnection, token_id: str, now: datetime) -> None:
    cur.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [now, token_id])
