"""Signing in to the desk's screens: how password guesses are throttled, and how long a browser
session lasts. No web framework here: apps/signin.py puts both behind the sign-in form and the
session cookie.

Throttling. Failed sign-ins are counted per user name and per client address. After
`free_failures` failures in a row for a name (`free_failures_per_address` from an address), the
next attempt must wait `first_wait`, and each further failure doubles the wait, up to
`longest_wait`. While a name or an address waits, attempts are refused without checking the
password (nothing is learnt, nothing is hashed). A success forgets its name's failures but not
its address's: an annotator signing in as themselves must not wipe the count of their guesses
at a colleague's password. A count is forgotten `forget_after` its last failure.

    throttle = SignInThrottle(SignInPolicy())
    throttle.wait("ana", "10.0.0.7")     # timedelta(0): check the password now
    throttle.failed("ana", "10.0.0.7")   # after the 5th failure in a row: timedelta(seconds=30)

Sessions. A SessionBook maps session ids (the cookie) to user names, like Gradio's own table,
but a session ends `lifetime` after it began, `idle` after its last request, and as soon as
`allowed(user, started_at)` says no (a disabled account, or a password changed since).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from labeling.clock import utc_now

MAX_TRACKED = 10_000  # names and addresses with failures kept in memory
MAX_SESSIONS_PER_USER = 20  # a 21st sign-in of one account ends its oldest session


@dataclass(frozen=True)
class SignInPolicy:
    free_failures: int = 5
    free_failures_per_address: int = 30  # an office behind one address shares this count
    first_wait: timedelta = timedelta(seconds=30)
    longest_wait: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=1)

    def wait_after(self, failures: int, free: int) -> timedelta:
        """How long the next attempt waits after `failures` failures in a row.

        >>> policy = SignInPolicy()
        >>> [policy.wait_after(n, 5).total_seconds() for n in (4, 5, 6, 7, 10, 50)]
        [0.0, 30.0, 60.0, 120.0, 900.0, 900.0]
        """
        if failures < free:
            return timedelta(0)
        return min(self.longest_wait, self.first_wait * (1 << min(failures - free, 32)))


@dataclass
class _Failures:
    count: int
    last_at: datetime
    wait_until: datetime


class SignInThrottle:
    """Counts of failed sign-ins per name and per address (thread-safe)."""

    def __init__(self, policy: SignInPolicy, now: Callable[[], datetime] = utc_now) -> None:
        self.policy = policy
        self._now = now
        self._failures: dict[tuple[str, str], _Failures] = {}
        self._lock = threading.Lock()

    def _keys(self, name: str, address: str) -> tuple[tuple[tuple[str, str], int], ...]:
        return (("name", name), self.policy.free_failures), (
            ("address", address),
            self.policy.free_failures_per_address,
        )

    def _current(self, key: tuple[str, str], now: datetime) -> _Failures | None:
        found = self._failures.get(key)
        if found is not None and now - found.last_at > self.policy.forget_after:
            del self._failures[key]
            return None
        return found

    def wait(self, name: str, address: str) -> timedelta:
        """How long until an attempt for `name` from `address` is checked; zero: now."""
        now = self._now()
        with self._lock:
            waits = [
                found.wait_until - now
                for key, _ in self._keys(name, address)
                if (found := self._current(key, now)) is not None and found.wait_until > now
            ]
        return max(waits, default=timedelta(0))

    def failed(self, name: str, address: str) -> timedelta:
        """Count a failure for `name` and for `address`; how long the next attempt waits."""
        now = self._now()
        longest = timedelta(0)
        with self._lock:
            self._prune(now)
            for key, free in self._keys(name, address):
                found = self._current(key, now) or _Failures(0, now, now)
                found.count += 1
                found.last_at = now
                wait = self.policy.wait_after(found.count, free)
                found.wait_until = now + wait
                longest = max(longest, wait)
                self._failures[key] = found
        return longest

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(("name", name), None)

    def _prune(self, now: datetime) -> None:
        """Keep memory bounded when many names are tried: forget stale counts first, then
        counts that make no one wait, then the oldest."""
        if len(self._failures) < MAX_TRACKED:
            return
        for key in [k for k, f in self._failures.items() if now - f.last_at > self.policy.forget_after]:
            del self._failures[key]
        if len(self._failures) >= MAX_TRACKED:
            for key in [k for k, f in self._failures.items() if f.wait_until <= now]:
                del self._failures[key]
        if len(self._failures) >= MAX_TRACKED:
            oldest = sorted(self._failures, key=lambda k: self._failures[k].last_at)
            for key in oldest[: len(oldest) - MAX_TRACKED // 2]:
                del self._failures[key]


@dataclass(frozen=True)
class SessionPolicy:
    lifetime: timedelta = timedelta(hours=12)
    idle: timedelta = timedelta(hours=2)


@dataclass
class _Session:
    user: str
    started_at: datetime
    seen_at: datetime


class SessionBook(MutableMapping[str, str]):
    """Session id -> user name, for the sessions that may go on (thread-safe). Reading a
    session counts as its activity; a session that may not go on is removed when read."""

    def __init__(
        self,
        policy: SessionPolicy,
        allowed: Callable[[str, datetime], bool],
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.policy = policy
        self._allowed = allowed
        self._now = now
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def start(self, user: str) -> str:
        """A new session for `user`; its id (the cookie's value)."""
        session_id = secrets.token_urlsafe(32)
        self[session_id] = user
        return session_id

    def _over(self, session: _Session, now: datetime) -> bool:
        return now - session.started_at >= self.policy.lifetime or now - session.seen_at >= self.policy.idle

    def __getitem__(self, session_id: str) -> str:
        with self._lock:
            session = self._sessions.get(session_id) if isinstance(session_id, str) else None
        if session is None:
            raise KeyError(session_id)
        now = self._now()
        if self._over(session, now) or not self._allowed(session.user, session.started_at):
            with self._lock:
                self._sessions.pop(session_id, None)
            raise KeyError(session_id)
        session.seen_at = now
        return session.user

    def __setitem__(self, session_id: str, user: str) -> None:
        now = self._now()
        with self._lock:
            for old_id in [i for i, s in self._sessions.items() if self._over(s, now)]:
                del self._sessions[old_id]
            own = [i for i, s in self._sessions.items() if s.user == user]  # oldest first
            for old_id in own[: max(0, len(own) - MAX_SESSIONS_PER_USER + 1)]:
                del self._sessions[old_id]
            self._sessions[session_id] = _Session(user, now, now)

    def __delitem__(self, session_id: str) -> None:
        with self._lock:
            del self._sessions[session_id]

    def end(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._sessions))

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)
