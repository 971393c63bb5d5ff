"""API tokens: made once, stored hashed, checked per store, revoked at once."""

from __future__ import annotations

from labeling import tokens, users
from labeling.clock import utc_now
from store.db import open_store
from tests.conftest import PASSWORD


def test_a_checked_token_is_valid_only_in_its_own_store_and_stops_when_revoked() -> None:
    first, second = open_store(":memory:"), open_store(":memory:")
    try:
        for store in (first, second):
            users.add_user(store, "ana", "annotator", PASSWORD, utc_now)
        token, info = tokens.create_token(first, "ana", "laptop", utc_now)
        assert tokens.authenticate_token(first, token) is not None
        assert tokens.authenticate_token(first, token) is not None  # now from the cache
        assert tokens.authenticate_token(second, token) is None  # same user name, another store
        with first.cursor() as cur:
            stored = cur.execute("SELECT secret_hash FROM api_tokens").fetchone()
        assert stored is not None and token.split("_", 2)[2] not in stored[0]
        tokens.revoke_token(first, info.id, utc_now)
        assert tokens.authenticate_token(first, token) is None
        assert tokens.authenticate_token(first, token[:-1] + "x") is None
        assert tokens.authenticate_token(first, "pd_nothing") is None
    finally:
        first.close()
        second.close()
