"""`prefdesk export dpo`: preference pairs from the judgment log to a TRL or OpenAI file.

manifest = export_dpo(store, Path("out"), target="trl")   # writes out/dpo_trl.jsonl
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from exports import openai, trl, write
from exports.select import AGGREGATION_RULE, PreferenceExample, select_preferences
from labeling.errors import ExportError
from labeling.perf import gc_paused
from store import judgments as log
from store.db import Store

TARGETS: dict[str, tuple[str, Callable[[PreferenceExample], dict[str, Any]]]] = {
    "trl": ("dpo_trl.jsonl", trl.dpo_record),
    "openai": ("dpo_openai.jsonl", openai.dpo_record),
}
OPENAI_MINIMUM_EXAMPLES = 10


def export_dpo(store: Store, out_dir: Path, *, target: str, now: Callable[[], datetime]) -> dict[str, Any]:
    """Write the preference file and manifest.json; return the manifest."""
    if target not in TARGETS:
        raise ExportError(f"unknown target {target!r} for dpo (use {' or '.join(TARGETS)})")
    file_name, build = TARGETS[target]
    write.prepare_dir(out_dir)
    with gc_paused():
        with store.cursor() as cur:
            summary = log.log_summary(cur)
            votes = log.pair_votes(cur)
        selection = select_preferences(votes, summary["pairs_with_every_judgment_undone"])
        records = [build(example) for example in selection.examples]
    warnings = []
    if target == "openai" and len(records) < OPENAI_MINIMUM_EXAMPLES:
        warnings.append(
            f"OpenAI fine-tuning needs at least {OPENAI_MINIMUM_EXAMPLES} examples; "
            f"this file has {len(records)}"
        )
    manifest: dict[str, Any] = {
        "kind": "dpo",
        "target": target,
        "files": {"train": file_name},
        "records": len(records),
        "pairs_judged": len(votes),
        "skipped": selection.skipped,
        "aggregation": AGGREGATION_RULE,
        "judgments": summary,
        "store": store.path,
        "created_at": now().isoformat(timespec="seconds") + "Z",
        "prefdesk_version": version("prefdesk"),
        "warnings": warnings,
    }
    write.write_jsonl(out_dir / file_name, records)
    write.write_json(out_dir / "manifest.json", manifest)
    with store.transaction() as cur:
        log.record_export(
            cur,
            export_id=str(uuid.uuid4()),
            kind="dpo",
            target=target,
            out_dir=str(out_dir.resolve()),
            manifest=manifest,
            now=now(),
        )
    return manifest
