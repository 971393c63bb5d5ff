"""The ids annotators are shown: keyed aliases of the stored ids, so that what a screen or the
REST API shows cannot be matched to a model.

A stored response id is a plain hash of its item, model and content (labeling/ingest/ids.py),
and an annotator sees the item id and the content: hashing guessed model names would find the
model of each side. An alias is a keyed hash (BLAKE2b with the store's own 32-byte secret,
desk_secrets 'blinding') of the stored id, so it says nothing without the key. Aliases are the
same for a response wherever it is shown, and the stored ids, exports and manifests do not change.

    blind = Blinder(key)
    blind.response("r_eb70a1c2d3e4f5a6")   # 'ra_' + 16 hex digits
    blind.pair("p_d7411bbb2297da25")       # 'pa_' + 16 hex digits
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

RESPONSE_PREFIX = "ra_"
PAIR_PREFIX = "pa_"


@dataclass(frozen=True)
class Blinder:
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            raise ValueError("the blinding key is at least 16 bytes")

    def _alias(self, kind: bytes, stored_id: str) -> str:
        return hashlib.blake2b(
            kind + b"\x1f" + stored_id.encode("utf-8"), key=self.key, digest_size=8
        ).hexdigest()

    def response(self, response_id: str) -> str:
        return RESPONSE_PREFIX + self._alias(b"response", response_id)

    def pair(self, pair_id: str) -> str:
        return PAIR_PREFIX + self._alias(b"pair", pair_id)

    def response_or_none(self, response_id: str | None) -> str | None:
        return None if response_id is None else self.response(response_id)

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        """A judgment-log event (store/events.py) as its annotator may read it."""
        return {
            **event,
            "pair_id": None if event["pair_id"] is None else self.pair(event["pair_id"]),
            "left_id": self.response_or_none(event["left_id"]),
            "right_id": self.response_or_none(event["right_id"]),
        }
