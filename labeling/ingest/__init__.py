"""Importing items and responses (`prefdesk import`, `POST /api/v1/items`): one path for every
file type and format.

    from labeling.ingest import import_files
    report = import_files(store, [Path("emails.jsonl")], dataset="support")

    readers.py   JSONL, JSON, CSV and Parquet records, each with its location
    rules.py     the field rules every format shares, applied to whole columns
    formats.py   one parser per format (responses, pairs, trl, arena), a batch at a time
    ids.py       the stable ids of items, responses and pairs
    planner.py   records in, checked rows out, chunk by chunk; problems in file order
    importer.py  the transaction: new rows stored, what is stored already left alone

The names below load on first use: `apps/settings.py` reads `FORMATS` for its flags without
paying for pyarrow and DuckDB.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labeling.ingest.formats import FORMATS
    from labeling.ingest.ids import pair_id_for, short_hash
    from labeling.ingest.importer import ImportReport, import_files, import_records
    from labeling.ingest.planner import MAX_PROBLEMS
    from labeling.models import ImportLimits

__all__ = [
    "FORMATS",
    "MAX_PROBLEMS",
    "ImportLimits",
    "ImportReport",
    "import_files",
    "import_records",
    "pair_id_for",
    "short_hash",
]

_HOMES = {
    "FORMATS": "labeling.ingest.formats",
    "MAX_PROBLEMS": "labeling.ingest.planner",
    "ImportLimits": "labeling.models",
    "ImportReport": "labeling.ingest.importer",
    "import_files": "labeling.ingest.importer",
    "import_records": "labeling.ingest.importer",
    "pair_id_for": "labeling.ingest.ids",
    "short_hash": "labeling.ingest.ids",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(home), name)
