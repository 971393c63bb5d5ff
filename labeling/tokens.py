"""API tokens for scripts: `pd_<id>_<secret>`, made for a user, shown once, revocable, and
optionally expiring.

    token, info = create_token(store, "ana", "nightly sync", utc_now, expires_in=timedelta(days=30))
    authenticate_token(store, token)   # -> User("ana", ...) until revoked, expired or ana is disabled

Only SHA-256 of the secret is stored. A fast hash is enough here (unlike passwords): the secret
is 32 random bytes, so there is nothing to guess offline. Who made a token (`by`: an admin's
account name, or "cli:<os user>") is stored with it, and making or revoking one is recorded in
the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from labeling.clock import utc_now
from labeling.errors import BadUserInput, NoSuchUser
from labeling.models import StoredToken, User
from store import audit
from store import tokens as token_rows
from store import users as user_rows
from store.db import Store, Tx

_TOKEN = re.compile(r"^pd_(?P<id>[0-9a-f]{8})_(?P<secret>[A-Za-z0-9_-]{43})$")
MAX_LABEL = 100
NOT_VALID = "this API token is not valid or has been revoked"


class NoSuchToken(BadUserInput):
    pass


@dataclass(frozen=True)
class TokenCheck:
    """The user a token acts for, or why it does not work (a message for its holder)."""

    user: User | None
    refusal: str = ""


# Tokens already checked, per store: every REST call authenticates, and a lookup costs a query.
# Revoking, and any account change (labeling.users), empties it, so a revoked token or a
# disabled owner stops working at once; an expiry is checked on every use. Weak keys: a closed
# store's entries go with it (an id() could be reused by another store).
_checked: weakref.WeakKeyDictionary[Store, dict[str, tuple[User, datetime | None]]] = (
    weakref.WeakKeyDictionary()
)
_MAX_CHECKED = 10_000


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def forget_checked(store: Store) -> None:
    _checked.pop(store, None)


def create_token(
    store: Store,
    user: str,
    label: str,
    now: Callable[[], datetime],
    *,
    expires_in: timedelta | None = None,
    by: str | None = None,
) -> tuple[str, StoredToken]:
    label = label.strip()
    if len(label) > MAX_LABEL:
        raise BadUserInput(f"the label is too long ({len(label)} characters, at most {MAX_LABEL})")
    token_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    at = now()
    expires_at = None if expires_in is None else at + expires_in

    def insert(tx: Tx) -> StoredToken | None:
        cur = tx.cur
        account = user_rows.get_account(cur, user)
        if account is None:
            raise NoSuchUser(f"no user named {user!r} (add one with `prefdesk users add`)")
        if account.disabled_at is not None:
            raise BadUserInput(
                f"{user!r} is disabled: a token for it would not work. Enable the account first "
                f"(`prefdesk users enable {user}`)"
            )
        token_rows.insert_token(
            cur, token_id, user, _digest(secret), label, at, expires_at=expires_at, created_by=by
        )
        detail = {
            "user": user,
            "label": label,
            "expires_at": None if expires_at is None else expires_at.isoformat(),
        }
        audit.record(cur, at=at, actor=by, action="token.create", target=token_id, detail=detail)
        return token_rows.get_token(cur, token_id)

    stored = store.write(insert)
    assert stored is not None
    return f"pd_{token_id}_{secret}", stored


def check_token(store: Store, token: str, now: Callable[[], datetime] = utc_now) -> TokenCheck:
    """The user a valid token acts for; otherwise why not. Only a token whose secret matches is
    told more than "not valid" (that it expired, or that its account is disabled)."""
    checked = _checked.setdefault(store, {})
    known = checked.get(token)
    if known is not None and (known[1] is None or now() < known[1]):
        return TokenCheck(known[0])
    match = _TOKEN.match(token)
    if match is None:
        return TokenCheck(None, NOT_VALID)
    with store.cursor() as cur:
        found = token_rows.owner(cur, match["id"])
    if found is None or not hmac.compare_digest(_digest(match["secret"]), found.secret_hash):
        return TokenCheck(None, NOT_VALID)
    if found.revoked_at is not None:
        return TokenCheck(None, NOT_VALID)
    if found.expires_at is not None and now() >= found.expires_at:
        return TokenCheck(
            None,
            f"this API token expired at {found.expires_at:%Y-%m-%d %H:%M} UTC: ask an admin for a new one "
            "(`prefdesk tokens create`)",
        )
    if found.owner_disabled_at is not None:
        return TokenCheck(
            None,
            f"the account {found.user.name!r} is disabled: its tokens work again only if an admin enables it",
        )
    if len(checked) >= _MAX_CHECKED:
        checked.clear()
    checked[token] = (found.user, found.expires_at)
    return TokenCheck(found.user)


def authenticate_token(store: Store, token: str, now: Callable[[], datetime] = utc_now) -> User | None:
    """The user a valid token acts for; None for anything else."""
    return check_token(store, token, now).user


def revoke_token(
    store: Store, token_id: str, now: Callable[[], datetime], *, by: str | None = None
) -> StoredToken:
    at = now()

    def revoke(tx: Tx) -> StoredToken | None:
        found = token_rows.get_token(tx.cur, token_id)
        if found is None:
            raise NoSuchToken(f"no token with id {token_id!r} (see `prefdesk tokens list`)")
        if found.revoked_at is None:
            token_rows.revoke(tx.cur, token_id, at)
            audit.record(
                tx.cur,
                at=at,
                actor=by,
                action="token.revoke",
                target=token_id,
                detail={"user": found.user_name},
            )
        return token_rows.get_token(tx.cur, token_id)

    stored = store.write(revoke)
    forget_checked(store)
    assert stored is not None
    return stored


def list_tokens(store: Store) -> list[StoredToken]:
    with store.cursor() as cur:
        return token_rows.list_tokens(cur)
