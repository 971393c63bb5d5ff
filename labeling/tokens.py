"""API tokens for scripts: `pd_<id>_<secret>`, made for a user, shown once, revocable.

    token, info = create_token(store, "ana", "nightly sync", utc_now)
    authenticate_token(store, token)   # -> User("ana", ...) until revoke_token(store, info.id, ...)

Only SHA-256 of the secret is stored. A fast hash is enough here (unlike passwords): the secret
is 32 random bytes, so there is nothing to guess offline.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import weakref
from collections.abc import Callable
from datetime import datetime

from labeling.errors import BadUserInput, NoSuchUser
from labeling.models import User
from store import tokens as token_rows
from store import users as user_rows
from store.db import Store
from store.tokens import StoredToken

_TOKEN = re.compile(r"^pd_(?P<id>[0-9a-f]{8})_(?P<secret>[A-Za-z0-9_-]{43})$")
MAX_LABEL = 100


class NoSuchToken(BadUserInput):
    pass


# Tokens already checked, per store: every REST call authenticates, and a lookup costs a query.
# Revoking through revoke_token() empties it, so a revoked token stops working at once. Weak
# keys: a closed store's entries go with it (an id() could be reused by another store).
_checked: weakref.WeakKeyDictionary[Store, dict[str, User]] = weakref.WeakKeyDictionary()
_MAX_CHECKED = 10_000


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def create_token(store: Store, user: str, label: str, now: Callable[[], datetime]) -> tuple[str, StoredToken]:
    label = label.strip()
    if len(label) > MAX_LABEL:
        raise BadUserInput(f"the label is too long ({len(label)} characters, at most {MAX_LABEL})")
    token_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    with store.transaction() as cur:
        if user_rows.get_user(cur, user) is None:
            raise NoSuchUser(f"no user named {user!r} (add one with `prefdesk users add`)")
        token_rows.insert_token(cur, token_id, user, _digest(secret), label, now())
        stored = token_rows.get_token(cur, token_id)
    assert stored is not None
    return f"pd_{token_id}_{secret}", stored


def authenticate_token(store: Store, token: str) -> User | None:
    """The user a valid, unrevoked token belongs to; None for anything else."""
    checked = _checked.setdefault(store, {})
    known = checked.get(token)
    if known is not None:
        return known
    match = _TOKEN.match(token)
    if match is None:
        return None
    with store.cursor() as cur:
        found = token_rows.active_owner(cur, match["id"])
    if found is None:
        return None
    user, secret_hash = found
    if not hmac.compare_digest(_digest(match["secret"]), secret_hash):
        return None
    if len(checked) >= _MAX_CHECKED:
        checked.clear()
    checked[token] = user
    return user


def revoke_token(store: Store, token_id: str, now: Callable[[], datetime]) -> StoredToken:
    with store.transaction() as cur:
        if token_rows.get_token(cur, token_id) is None:
            raise NoSuchToken(f"no token with id {token_id!r} (see `prefdesk tokens list`)")
        token_rows.revoke(cur, token_id, now())
        stored = token_rows.get_token(cur, token_id)
    _checked.pop(store, None)
    assert stored is not None
    return stored


def list_tokens(store: Store) -> list[StoredToken]:
    with store.cursor() as cur:
        return token_rows.list_tokens(cur)
