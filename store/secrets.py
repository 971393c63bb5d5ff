"""Secrets a store keeps for itself (desk_secrets): made once, from the OS's random source,
never shown, never exported.

    key = desk_secret(cur, "blinding")   # 32 bytes, the same every time this store is opened
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import duckdb

SECRET_NAMES = ("blinding",)  # keys the ids shown to annotators (labeling/blind.py)
SECRET_BYTES = 32


def ensure_secrets(cur: duckdb.DuckDBPyConnection) -> None:
    """Make each secret this code knows of that the store has not got yet (at open, for writing)."""
    made = {name for (name,) in cur.execute("SELECT name FROM desk_secrets").fetchall()}
    now = datetime.now(UTC).replace(tzinfo=None)
    for name in SECRET_NAMES:
        if name not in made:  # nothing is written to a store that has them all
            cur.execute(
                "INSERT INTO desk_secrets VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [name, secrets.token_bytes(SECRET_BYTES), now],
            )


def desk_secret(cur: duckdb.DuckDBPyConnection, name: str) -> bytes | None:
    """The secret, or None in a store opened read-only before it was ever made."""
    try:
        row = cur.execute("SELECT secret FROM desk_secrets WHERE name = ?", [name]).fetchone()
    except duckdb.CatalogException:  # a read-only store older than migration 0007
        return None
    return bytes(row[0]) if row else None
