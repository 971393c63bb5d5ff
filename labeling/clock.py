"""The desk's clock: naive UTC, as the store keeps timestamps. A module of its own so that a
command that only needs the time loads nothing else."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
