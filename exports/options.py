"""What an export can be asked for: kinds and targets, selection policies and options. Plain
values and dataclasses only, so that the CLI can parse flags without loading the exporters.

    >>> ExportOptions.from_flags({"aggregate": "unanimous", "min_agreement": 0.5, "both_bad": "drop",
    ...                           "pairs": "all", "ties": "drop", "seed": 3}).policy.aggregate
    'unanimous'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exports.registry import KINDS as KINDS
from exports.registry import TARGETS as TARGETS
from exports.registry import TRAINING_KINDS as TRAINING_KINDS
from labeling.errors import ExportError

NEAR_DUPLICATE_METHODS = ("minhash", "embeddings")
AGGREGATIONS = ("majority", "unanimous")
BOTH_BAD_POLICIES = ("drop", "kto")
PAIR_MODES = ("all", "best-worst", "adjacent")
TIE_POLICIES = ("drop",)


@dataclass(frozen=True)
class SelectionPolicy:
    aggregate: str = "majority"
    min_agreement: float = 0.0
    both_bad: str = "drop"
    pairs: str = "all"  # with 3+ responses per prompt: every decided pair, or pairs from the ranking
    ties: str = "drop"  # the only policy: a tie holds no preference to train on

    def __post_init__(self) -> None:
        if self.aggregate not in AGGREGATIONS:
            raise ExportError(f"unknown aggregation {self.aggregate!r} (use {' or '.join(AGGREGATIONS)})")
        if not 0.0 <= self.min_agreement <= 1.0:
            raise ExportError(f"--min-agreement must be between 0 and 1, got {self.min_agreement}")
        if self.both_bad not in BOTH_BAD_POLICIES:
            raise ExportError(f"unknown both-bad policy {self.both_bad!r} (use drop or kto)")
        if self.ties not in TIE_POLICIES:
            raise ExportError(f"unknown tie policy {self.ties!r} (use drop)")
        if self.pairs not in PAIR_MODES:
            raise ExportError(f"unknown pairs mode {self.pairs!r} (use {', '.join(PAIR_MODES)})")

    def describe(self) -> dict[str, object]:
        return {
            "aggregate": self.aggregate,
            "min_agreement": self.min_agreement,
            "ties": self.ties,
            "both_bad": self.both_bad,
            "pairs": self.pairs,
            "votes": "one per annotator: their latest judgment in force; undone/superseded are not votes",
        }


@dataclass(frozen=True)
class ExportOptions:
    policy: SelectionPolicy = field(default_factory=SelectionPolicy)
    standard: bool = False  # dpo/trl: plain strings instead of messages
    prompt_completion: bool = False  # sft/trl: prompt + completion instead of messages
    eval_fraction: float = 0.0  # share of records for an eval split (evals: the sample), by whole clusters
    all_items: bool = False  # evals: every judged item is the eval set (instead of --eval-fraction)
    allow_empty: bool = False  # write an export with 0 records instead of refusing it
    seed: int = 0
    allow_eval_overlap: bool = False  # train on items registered as eval items by earlier exports
    near_duplicates: str = "minhash"  # or "embeddings" (the embeddings extra): also paraphrases
    datasets: tuple[str, ...] = ()  # only items of these datasets (all when empty)
    parquet: bool = False  # write .parquet files instead of .jsonl (TRL targets)
    yaml: bool = False  # promptfoo: one YAML list of test cases instead of JSONL
    save_to_disk: bool = False  # also save a datasets.DatasetDict under DIR/hf_dataset
    max_tokens: int | None = None  # drop (and count) longer records
    tokenizer: Path | None = None  # a local tokenizer for max_tokens; tiktoken o200k_base otherwise

    @classmethod
    def from_flags(cls, flags: Mapping[str, Any]) -> ExportOptions:
        """From flat settings named as the CLI flags and the REST body name them (`aggregate`,
        `min_agreement`, `both_bad`, `pairs`, `ties`, `datasets` and the fields above); names
        that are not options (e.g. `kind`) are ignored."""
        policy = SelectionPolicy(
            *(flags[name] for name in ("aggregate", "min_agreement", "both_bad", "pairs", "ties"))
        )
        fields = {name: flags[name] for name in cls.__dataclass_fields__ if name in flags}
        if "datasets" in fields:
            fields["datasets"] = tuple(fields["datasets"])
        return cls(policy=policy, **{k: v for k, v in fields.items() if k != "policy"})
