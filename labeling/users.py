"""People who use the desk: adding them, checking their passwords, and their accounts over time
(disable, enable, a new password, a new role), each change recorded in the audit log.

Passwords are stored as `scrypt$n$r$p$salt$hash` (stdlib hashlib.scrypt, a random 16-byte salt).

    add_user(store, "ana", "annotator", "a-long-password", utc_now, by="cli:alice")
    check_password(store, "ana", "a-long-password")   # SignIn.OK
    disable_user(store, "ana", utc_now, by="root")    # her sessions and tokens stop at once

`by` says who made a change (an admin's account name, or "cli:<os user>" for a command); it
goes to the audit log. Changes made here take effect at the next request of a serving desk in
this process: the accounts it has read are forgotten on every change.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from labeling import tokens
from labeling.errors import BadUserInput, LastAdmin, NoSuchUser, UserExists
from labeling.models import Account, User, UserRole
from store import audit
from store import users as user_rows
from store.db import Cursor, Store, Tx
from store.errors import DuplicateId

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024

# Accounts already read, per store: every request of a signed-in person checks their account
# (disabled? sessions ended?), and a lookup costs a query. Every change made through this
# module empties it, so a change is seen at the next request. Weak keys, as in labeling/tokens.
_read: weakref.WeakKeyDictionary[Store, dict[str, Account | None]] = weakref.WeakKeyDictionary()
_MAX_READ = 10_000


class SignIn(StrEnum):
    """What checking a name and a password found. Only OK lets anyone in."""

    OK = "ok"
    WRONG_PASSWORD = "wrong password"
    UNKNOWN_USER = "unknown user"
    DISABLED = "account disabled"


@dataclass(frozen=True)
class AccountChange:
    before: Account
    after: Account

    @property
    def changed(self) -> bool:
        return self.before != self.after


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(
        password.encode("utf-8"),
        salt=base64.b64decode(salt),
        dklen=len(expected),
        n=int(n),
        r=int(r),
        p=int(p),
    )
    return hmac.compare_digest(actual, expected)


@functools.cache
def _dummy_hash() -> str:
    """A hash of a password nobody knows, made with the same parameters as real ones."""
    return hash_password(secrets.token_urlsafe(16))


def check_password(store: Store, name: str, password: str) -> SignIn:
    """Whether `name` may sign in with `password`. An unknown name costs the same hashing as a
    known one (a dummy hash is checked), so the time taken does not tell which names exist.
    Slow on purpose (scrypt, ~50 ms): call it off the event loop."""
    row = None
    if _NAME.match(name):
        with store.cursor() as cur:
            row = user_rows.sign_in_row(cur, name)
    if row is None:
        password_matches(password, _dummy_hash())
        return SignIn.UNKNOWN_USER
    stored, disabled_at = row
    if not password_matches(password, stored):
        return SignIn.WRONG_PASSWORD
    return SignIn.OK if disabled_at is None else SignIn.DISABLED


def authenticate(store: Store, name: str, password: str) -> bool:
    return check_password(store, name, password) is SignIn.OK


def _check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadUserInput(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise BadUserInput(f"the password is too long: at most {MAX_PASSWORD_LENGTH} characters")


def _role(role: str) -> UserRole:
    try:
        return UserRole(role)
    except ValueError:
        raise BadUserInput(f"unknown role {role!r} (use admin or annotator)") from None


def _changed(store: Store) -> None:
    """Forget what was read about accounts and tokens: the next request reads them again."""
    _read.pop(store, None)
    tokens.forget_checked(store)


def add_user(
    store: Store, name: str, role: str, password: str, now: Callable[[], datetime], *, by: str | None = None
) -> User:
    if not _NAME.match(name):
        raise BadUserInput(f"{name!r} is not a valid user name (letters, digits, . _ @ -; up to 64)")
    user_role = _role(role)
    _check_password_rules(password)
    password_hash = hash_password(password)  # before the write: it takes ~50 ms
    at = now()

    def insert(tx: Tx) -> None:
        if user_rows.get_account(tx.cur, name) is not None:
            raise UserExists(f"a user named {name!r} already exists")
        user_rows.insert_user(tx.cur, name, user_role, password_hash, at)
        audit.record(
            tx.cur, at=at, actor=by, action="user.add", target=name, detail={"role": user_role.value}
        )

    try:
        store.write(insert)
    except DuplicateId:  # added by another writer between the check and the insert
        raise UserExists(f"a user named {name!r} already exists") from None
    _changed(store)
    return User(name, user_role)


def _existing(cur: Cursor, name: str) -> Account:
    account = user_rows.get_account(cur, name)
    if account is None:
        raise NoSuchUser(f"no user named {name!r} (see `prefdesk users list`)")
    return account


def _refuse_losing_the_last_admin(cur: Cursor, account: Account, change: str) -> None:
    enabled_admin = account.role is UserRole.ADMIN and account.disabled_at is None
    if enabled_admin and user_rows.enabled_admins(cur) == [account.name]:
        raise LastAdmin(
            f"{account.name!r} is the only enabled admin: {change} would leave nobody to manage "
            "accounts. Add or enable another admin first"
        )


def set_password(
    store: Store, name: str, password: str, now: Callable[[], datetime], *, by: str | None = None
) -> Account:
    """A new password; the account's browser sessions end (its API tokens do not)."""
    _check_password_rules(password)
    password_hash = hash_password(password)
    at = now()

    def change(tx: Tx) -> Account:
        _existing(tx.cur, name)
        user_rows.set_password_hash(tx.cur, name, password_hash, at)
        audit.record(tx.cur, at=at, actor=by, action="user.password", target=name)
        return _existing(tx.cur, name)

    account = store.write(change)
    _changed(store)
    return account


def disable_user(
    store: Store, name: str, now: Callable[[], datetime], *, by: str | None = None
) -> AccountChange:
    """The account can no longer sign in; its sessions and tokens stop at their next request.
    Its judgments stay. Disabling a disabled account changes nothing."""
    at = now()

    def change(tx: Tx) -> AccountChange:
        before = _existing(tx.cur, name)
        if before.disabled_at is not None:
            return AccountChange(before, before)
        _refuse_losing_the_last_admin(tx.cur, before, "disabling it")
        user_rows.set_disabled(tx.cur, name, at)
        audit.record(tx.cur, at=at, actor=by, action="user.disable", target=name)
        return AccountChange(before, _existing(tx.cur, name))

    return _changed_by(store, change)


def enable_user(
    store: Store, name: str, now: Callable[[], datetime], *, by: str | None = None
) -> AccountChange:
    """The account may sign in again and its unrevoked, unexpired tokens work again; the
    sessions it had when it was disabled stay ended."""
    at = now()

    def change(tx: Tx) -> AccountChange:
        before = _existing(tx.cur, name)
        if before.disabled_at is None:
            return AccountChange(before, before)
        user_rows.set_disabled(tx.cur, name, None)
        audit.record(tx.cur, at=at, actor=by, action="user.enable", target=name)
        return AccountChange(before, _existing(tx.cur, name))

    return _changed_by(store, change)


def set_role(
    store: Store, name: str, role: str, now: Callable[[], datetime], *, by: str | None = None
) -> AccountChange:
    """A new role, effective at the account's next request (its sessions and tokens included)."""
    new_role = _role(role)
    at = now()

    def change(tx: Tx) -> AccountChange:
        before = _existing(tx.cur, name)
        if before.role is new_role:
            return AccountChange(before, before)
        if new_role is not UserRole.ADMIN:
            _refuse_losing_the_last_admin(tx.cur, before, f"making it {new_role.value}")
        user_rows.set_role(tx.cur, name, new_role)
        detail = {"from": before.role.value, "to": new_role.value}
        audit.record(tx.cur, at=at, actor=by, action="user.role", target=name, detail=detail)
        return AccountChange(before, _existing(tx.cur, name))

    return _changed_by(store, change)


def _changed_by(store: Store, change: Callable[[Tx], AccountChange]) -> AccountChange:
    """Run an account change; the accounts read so far are forgotten when it changed anything."""
    outcome = store.write(change)
    if outcome.changed:
        _changed(store)
    return outcome


def account(store: Store, name: str) -> Account | None:
    """The account named `name` as last read (read again after any change made here)."""
    read = _read.setdefault(store, {})
    if name in read:
        return read[name]
    with store.cursor() as cur:
        found = user_rows.get_account(cur, name)
    if len(read) >= _MAX_READ:
        read.clear()
    read[name] = found
    return found


def session_allowed(store: Store, name: str, started_at: datetime) -> bool:
    """Whether a browser session `name` started at `started_at` may go on: the account exists,
    is enabled, and neither a password change nor a disable came after the session began."""
    found = account(store, name)
    if found is None or found.disabled_at is not None:
        return False
    return found.sessions_reset_at is None or started_at > found.sessions_reset_at


def list_users(store: Store) -> list[User]:
    with store.cursor() as cur:
        return user_rows.list_users(cur)


def list_accounts(store: Store) -> list[Account]:
    with store.cursor() as cur:
        return user_rows.list_accounts(cur)


def get_user(store: Store, name: str) -> User | None:
    with store.cursor() as cur:
        return user_rows.get_user(cur, name)
