"""Counts for `prefdesk stats`: what is stored and what has been judged, by whom."""

from __future__ import annotations

from typing import Any

from store import catalog
from store import judgments as log
from store.db import Store


def desk_stats(store: Store) -> dict[str, Any]:
    with store.cursor() as cur:
        stored = catalog.counts(cur)
        summary = log.log_summary(cur)
        by_verdict = log.verdict_counts(cur)
        by_annotator = log.annotator_counts(cur)
    verdicts = {v: by_verdict.get(v, 0) for v in ("left", "right", "tie", "both_bad")}
    return {
        **stored,
        "judgments": {
            "in_force": summary["pair_judgments_in_force"],
            "undone": summary["pair_judgments_undone"],
            "by_verdict": verdicts,
        },
        "annotators": {
            name: {"judgments": sum(counts.values()), **{v: counts.get(v, 0) for v in verdicts}}
            for name, counts in by_annotator.items()
        },
    }
