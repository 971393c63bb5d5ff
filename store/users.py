"""Accounts: a name, a role and a salted password hash (never the password)."""

from __future__ import annotations

from datetime import datetime

import duckdb

from labeling.models import User, UserRole


def insert_user(
    cur: duckdb.DuckDBPyConnection, name: str, role: UserRole, password_hash: str, now: datetime
) -> None:
    cur.execute("INSERT INTO users VALUES (?, ?, ?, ?)", [name, role.value, password_hash, now])


def set_password_hash(cur: duckdb.DuckDBPyConnection, name: str, password_hash: str) -> None:
    cur.execute("UPDATE users SET password_hash = ? WHERE name = ?", [password_hash, name])


def password_hash(cur: duckdb.DuckDBPyConnection, name: str) -> str | None:
    row = cur.execute("SELECT password_hash FROM users WHERE name = ?", [name]).fetchone()
    return row[0] if row else None


def get_user(cur: duckdb.DuckDBPyConnection, name: str) -> User | None:
    row = cur.execute("SELECT name, role FROM users WHERE name = ?", [name]).fetchone()
    return User(row[0], UserRole(row[1])) if row else None


def list_users(cur: duckdb.DuckDBPyConnection) -> list[User]:
    rows = cur.execute("SELECT name, role FROM users ORDER BY name").fetchall()
    return [User(name, UserRole(role)) for name, role in rows]
