"""The serving index's pairs, in serving order, held compactly.

A pair as four Python strings and an object costs ~460 bytes (46 MB per 100k pairs, for as long
as the desk runs); as Arrow string columns it costs ~90. A pair is found by id through a sorted
array of 64-bit keys of the ids (checked against the id itself, so a collision only costs a
second look), and a `Pair` is made when one is asked for.

    table = PairTable()
    keys = table.extend(new_pairs)      # Arrow: id, item_id, response_a_id, response_b_id
    position = table.position("p_...")  # None when not held
    table.pair(position)                # Pair(...)
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from labeling.models import Pair

COLUMNS = ("id", "item_id", "response_a_id", "response_b_id")


def key64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class PairTable:
    def __init__(self) -> None:
        self._columns: list[pa.Array] = [pa.array([], pa.string()) for _ in COLUMNS]
        self.keys: npt.NDArray[np.uint64] = np.zeros(0, np.uint64)  # key64 of each pair's id
        self._sorted_keys: npt.NDArray[np.uint64] = np.zeros(0, np.uint64)
        self._sorted_positions: npt.NDArray[np.int64] = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.keys)

    def extend(self, new: pa.Table) -> npt.NDArray[np.uint64]:
        """Append pairs (in serving order); returns their keys."""
        ids = new.column("id").to_pylist()
        keys = np.fromiter((key64(pair_id) for pair_id in ids), dtype=np.uint64, count=len(ids))
        self._columns = [
            pa.concat_arrays([held, *new.column(name).cast(pa.string()).chunks])
            for held, name in zip(self._columns, COLUMNS, strict=True)
        ]
        self.keys = np.concatenate([self.keys, keys])
        self._sorted_positions = np.argsort(self.keys, kind="stable")
        self._sorted_keys = self.keys[self._sorted_positions]
        return keys

    def id_at(self, position: int) -> str:
        return str(self._columns[0][position].as_py())

    def pair(self, position: int) -> Pair:
        return Pair(*(str(column[position].as_py()) for column in self._columns))

    def position(self, pair_id: str) -> int | None:
        key = np.uint64(key64(pair_id))
        at = int(np.searchsorted(self._sorted_keys, key))
        while at < len(self._sorted_keys) and self._sorted_keys[at] == key:
            position = int(self._sorted_positions[at])
            if self.id_at(position) == pair_id:
                return position
            at += 1
        return None
