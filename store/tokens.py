"""API tokens: the public id, the owner and a hash of the secret (never the token)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from labeling.models import StoredToken, User, UserRole


@dataclass(frozen=True)
class TokenOwner:
    """What checking a token needs: its owner and their state, the token's state, the secret's hash."""

    user: User
    secret_hash: str
    revoked_at: datetime | None
    expires_at: datetime | None
    owner_disabled_at: datetime | None


_COLUMNS = "id, user_name, label, created_at, revoked_at, expires_at, created_by"


def insert_token(
    cur: duckdb.DuckDBPyConnection,
    token_id: str,
    user_name: str,
    secret_hash: str,
    label: str,
    now: datetime,
    *,
    expires_at: datetime | None = None,
    created_by: str | None = None,
) -> None:
    cur.execute(
        "INSERT INTO api_tokens (id, user_name, secret_hash, label, created_at, revoked_at, expires_at, "
        "created_by) VALUES (?, ?, ?, ?, ?, NULL, ?, ?)",
        [token_id, user_name, secret_hash, label, now, expires_at, created_by],
    )


def owner(cur: duckdb.DuckDBPyConnection, token_id: str) -> TokenOwner | None:
    """The owner of a token and the state of both, whether the token works or not."""
    row = cur.execute(
        "SELECT u.name, u.role, t.secret_hash, t.revoked_at, t.expires_at, u.disabled_at "
        "FROM api_tokens t JOIN users u ON u.name = t.user_name WHERE t.id = ?",
        [token_id],
    ).fetchone()
    if row is None:
        return None
    name, role, secret_hash, revoked_at, expires_at, disabled_at = row
    return TokenOwner(User(name, UserRole(role)), secret_hash, revoked_at, expires_at, disabled_at)


def get_token(cur: duckdb.DuckDBPyConnection, token_id: str) -> StoredToken | None:
    row = cur.execute(f"SELECT {_COLUMNS} FROM api_tokens WHERE id = ?", [token_id]).fetchone()
    return StoredToken(*row) if row else None


def list_tokens(cur: duckdb.DuckDBPyConnection) -> list[StoredToken]:
    rows = cur.execute(f"SELECT {_COLUMNS} FROM api_tokens ORDER BY created_at, id").fetchall()
    return [StoredToken(*row) for row in rows]


def revoke(cur: duckdb.DuckDBPyConnection, token_id: str, now: datetime) -> None:
    cur.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [now, token_id])
