"""The stable ids of imported rows.

short_hash("support/q1", "bot-v1", "It shipped.")  # 16 hex digits of blake2b
pair_id_for("r_b", "r_a") == ("p_" + short_hash("r_a", "r_b"), "r_a", "r_b")
"""

from __future__ import annotations

import hashlib
from typing import Any

from labeling.models import json_text


def short_hash(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).hexdigest()


def pair_id_for(response_x: str, response_y: str) -> tuple[str, str, str]:
    """(pair id, first, second) with the two responses in canonical order."""
    first, second = sorted((response_x, response_y))
    return f"p_{short_hash(first, second)}", first, second


def pair_metadata(first_id: str, second_id: str, preferred_first: str, metadata: dict[str, Any]) -> str:
    """Turn the source's verdict about (a, b) into the preferred response's id."""
    verdict = metadata.get("source_verdict")
    result = {k: v for k, v in metadata.items() if k != "source_verdict"}
    if verdict in ("a", "b"):
        other = second_id if preferred_first == first_id else first_id
        result["source_preferred_id"] = preferred_first if verdict == "a" else other
    elif verdict is not None:
        result["source_verdict"] = verdict
    return json_text(result)
