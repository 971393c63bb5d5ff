"""Accounts: a name, a role and a salted password hash (never the password), and their state
over time (disabled or not; when their browser sessions were last ended)."""

from __future__ import annotations

from datetime import datetime

import duckdb

from labeling.models import Account, User, UserRole

_ACCOUNT = "name, role, created_at, disabled_at, sessions_reset_at"


def _account(row: tuple[object, ...]) -> Account:
    name, role, created_at, disabled_at, reset_at = row
    return Account(str(name), UserRole(role), created_at, disabled_at, reset_at)  # type: ignore[arg-type]


def insert_user(
    cur: duckdb.DuckDBPyConnection, name: str, role: UserRole, password_hash: str, now: datetime
) -> None:
    cur.execute(
        "INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
        [name, role.value, password_hash, now],
    )


def set_password_hash(cur: duckdb.DuckDBPyConnection, name: str, password_hash: str, now: datetime) -> None:
    cur.execute(
        "UPDATE users SET password_hash = ?, sessions_reset_at = ? WHERE name = ?", [password_hash, now, name]
    )


def set_disabled(cur: duckdb.DuckDBPyConnection, name: str, disabled_at: datetime | None) -> None:
    """Disable (a time) or enable (None) an account; disabling also ends its sessions."""
    if disabled_at is None:
        cur.execute("UPDATE users SET disabled_at = NULL WHERE name = ?", [name])
    else:
        cur.execute(
            "UPDATE users SET disabled_at = ?, sessions_reset_at = ? WHERE name = ?",
            [disabled_at, disabled_at, name],
        )


def set_role(cur: duckdb.DuckDBPyConnection, name: str, role: UserRole) -> None:
    cur.execute("UPDATE users SET role = ? WHERE name = ?", [role.value, name])


def password_hash(cur: duckdb.DuckDBPyConnection, name: str) -> str | None:
    row = cur.execute("SELECT password_hash FROM users WHERE name = ?", [name]).fetchone()
    return row[0] if row else None


def sign_in_row(cur: duckdb.DuckDBPyConnection, name: str) -> tuple[str, datetime | None] | None:
    """(password hash, disabled_at) of an account: what a sign-in checks."""
    row = cur.execute("SELECT password_hash, disabled_at FROM users WHERE name = ?", [name]).fetchone()
    return (row[0], row[1]) if row else None


def get_account(cur: duckdb.DuckDBPyConnection, name: str) -> Account | None:
    row = cur.execute(f"SELECT {_ACCOUNT} FROM users WHERE name = ?", [name]).fetchone()
    return _account(row) if row else None


def list_accounts(cur: duckdb.DuckDBPyConnection) -> list[Account]:
    return [_account(row) for row in cur.execute(f"SELECT {_ACCOUNT} FROM users ORDER BY name").fetchall()]


def enabled_admins(cur: duckdb.DuckDBPyConnection) -> list[str]:
    rows = cur.execute(
        "SELECT name FROM users WHERE role = ? AND disabled_at IS NULL ORDER BY name", [UserRole.ADMIN.value]
    ).fetchall()
    return [name for (name,) in rows]


def get_user(cur: duckdb.DuckDBPyConnection, name: str) -> User | None:
    row = cur.execute("SELECT name, role FROM users WHERE name = ?", [name]).fetchone()
    return User(row[0], UserRole(row[1])) if row else None


def list_users(cur: duckdb.DuckDBPyConnection) -> list[User]:
    rows = cur.execute("SELECT name, role FROM users ORDER BY name").fetchall()
    return [User(name, UserRole(role)) for name, role in rows]
