"""The serving index's compact pairs: found by id, in order, even when keys of ids collide."""

from __future__ import annotations

import pyarrow as pa
import pytest

from labeling import pair_table
from labeling.models import Pair
from labeling.pair_table import PairTable


def pairs(*numbers: int) -> pa.Table:
    return pa.table(
        {
            "id": [f"p_{n}" for n in numbers],
            "item_id": [f"d/{n}" for n in numbers],
            "response_a_id": [f"r_{n}a" for n in numbers],
            "response_b_id": [f"r_{n}b" for n in numbers],
        }
    )


def test_pairs_are_found_by_id_in_the_order_they_came() -> None:
    table = PairTable()
    table.extend(pairs(5, 3))
    table.extend(pairs(9))
    assert len(table) == 3
    assert [table.id_at(position) for position in range(3)] == ["p_5", "p_3", "p_9"]
    assert table.position("p_9") == 2 and table.position("p_3") == 1 and table.position("p_7") is None
    assert table.pair(0) == Pair("p_5", "d/5", "r_5a", "r_5b")
    assert list(table.keys) == [pair_table.key64(f"p_{n}") for n in (5, 3, 9)]


def test_ids_whose_keys_collide_are_told_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pair_table, "key64", lambda text: 7)  # every id the same key
    table = PairTable()
    table.extend(pairs(1, 2, 3))
    table.extend(pairs(4))
    assert [table.position(f"p_{n}") for n in (1, 2, 3, 4)] == [0, 1, 2, 3]
    assert table.position("p_5") is None
