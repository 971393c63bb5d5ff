"""The desk's clock: naive UTC, as the store keeps timestamps, and durations as people write
them (`30d`, `12h`). A module of its own so that a command that only needs the time loads
nothing else."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from labeling.errors import BadUserInput

_DURATION = re.compile(r"^\s*(?P<count>\d{1,6})\s*(?P<unit>[smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
LONGEST_DURATION = timedelta(days=3650)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def parse_duration(text: str) -> timedelta:
    """A positive duration written as a number and a unit: s, m, h, d or w (up to 3650d).

    >>> parse_duration("30d")
    datetime.timedelta(days=30)
    >>> parse_duration("90m")
    datetime.timedelta(seconds=5400)
    """
    match = _DURATION.match(text)
    if match is None or int(match["count"]) == 0:
        raise BadUserInput(
            f"{text!r} is not a duration: write a whole number above 0 and a unit, e.g. 30d, 12h, 90m or 45s"
        )
    duration = timedelta(**{_UNITS[match["unit"]]: int(match["count"])})
    if duration > LONGEST_DURATION:
        raise BadUserInput(f"{text!r} is too long: at most {LONGEST_DURATION.days}d")
    return duration


def describe_duration(duration: timedelta) -> str:
    """A duration in the largest unit that divides it, as parse_duration reads it back.

    >>> describe_duration(timedelta(hours=12)), describe_duration(timedelta(seconds=90))
    ('12h', '90s')
    """
    seconds = int(duration.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
