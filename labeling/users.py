"""People who use the desk: adding them, and checking their passwords.

Passwords are stored as `scrypt$n$r$p$salt$hash` (stdlib hashlib.scrypt, a random 16-byte salt).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from datetime import datetime

import duckdb

from labeling.errors import BadUserInput, NoSuchUser, UserExists
from labeling.models import User, UserRole
from store import users as user_rows
from store.db import Store

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD_LENGTH = 8


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


def add_user(store: Store, name: str, role: str, password: str, now: Callable[[], datetime]) -> User:
    if not _NAME.match(name):
        raise BadUserInput(f"{name!r} is not a valid user name (letters, digits, . _ @ -; up to 64)")
    try:
        user_role = UserRole(role)
    except ValueError:
        raise BadUserInput(f"unknown role {role!r} (use admin or annotator)") from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadUserInput(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    with store.transaction() as cur:
        try:
            user_rows.insert_user(cur, name, user_role, hash_password(password), now())
        except duckdb.ConstraintException:
            raise UserExists(f"a user named {name!r} already exists") from None
    return User(name, user_role)


def set_password(store: Store, name: str, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadUserInput(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    with store.transaction() as cur:
        if user_rows.get_user(cur, name) is None:
            raise NoSuchUser(f"no user named {name!r}")
        user_rows.set_password_hash(cur, name, hash_password(password))


def authenticate(store: Store, name: str, password: str) -> bool:
    with store.cursor() as cur:
        stored = user_rows.password_hash(cur, name)
    return stored is not None and password_matches(password, stored)


def list_users(store: Store) -> list[User]:
    with store.cursor() as cur:
        return user_rows.list_users(cur)


def get_user(store: Store, name: str) -> User | None:
    with store.cursor() as cur:
        return user_rows.get_user(cur, name)
