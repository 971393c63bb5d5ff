"""Every export there is, in one table: kind x target -> record builder, record check, golden
example, description. The export runner, the CLI's choices, the REST schema and the docs tests
read it; nothing else lists kinds or targets.

Builders and checks are named ("module:function") and loaded when an export runs, so that
parsing flags does not load the exporters.

    >>> KINDS["evals"]
    ('openai-evals', 'oaieval', 'promptfoo')
    >>> export_format("dpo", "trl").file_name
    'dpo_trl.jsonl'
    >>> export_format("dpo", "trl").load_check()({"prompt": "Hi?", "chosen": " A", "rejected": " A"})
    'chosen and rejected are identical'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TRAINING_KINDS = ("dpo", "sft", "kto", "reward")  # what a model is trained on: eval items kept out


@dataclass(frozen=True)
class ExportFormat:
    kind: str
    target: str
    description: str  # what the file holds, as docs/exports.md's table of exports says it
    builder: str | None  # "module:function" building one record; None for a table (exports/table.py)
    check: str | None  # "module:function" returning what is wrong with one record, or None
    golden: str | None  # tests/data/golden/<golden>: the records the code writes for the golden judgments
    variants: dict[str, str] = field(default_factory=dict)  # format flag -> its golden file

    @property
    def file_name(self) -> str:
        """The data file of a single-split export."""
        return f"judgments.{self.target}" if self.kind == "judgments" else f"{self.kind}_{self.target}.jsonl"

    def load_builder(self) -> Callable[..., dict[str, Any]]:
        builder: Callable[..., dict[str, Any]] = _load(self.builder)
        return builder

    def load_check(self) -> Callable[[dict[str, Any]], str | None]:
        check: Callable[[dict[str, Any]], str | None] = _load(self.check)
        return check


def _load(name: str | None) -> Any:
    if name is None:
        raise LookupError("this export writes a table: it has no record builder or check")
    module, function = name.split(":")
    return getattr(importlib.import_module(module), function)


FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat(
        "dpo",
        "trl",
        "conversational preference, explicit prompt (`--standard`: strings)",
        "exports.trl:dpo_record",
        "exports.checks:trl_dpo",
        "dpo_trl.jsonl",
        {"standard": "dpo_trl_standard.jsonl"},
    ),
    ExportFormat(
        "dpo",
        "openai",
        "preference fine-tuning",
        "exports.openai:dpo_record",
        "exports.checks:openai_dpo",
        "dpo_openai.jsonl",
    ),
    ExportFormat(
        "sft",
        "trl",
        "`messages` (`--prompt-completion`: prompt/completion)",
        "exports.trl:sft_record",
        "exports.checks:trl_sft",
        "sft_trl.jsonl",
        {"prompt_completion": "sft_trl_prompt_completion.jsonl"},
    ),
    ExportFormat(
        "sft",
        "openai",
        "chat fine-tuning with `weight`",
        "exports.openai:sft_record",
        "exports.checks:openai_sft",
        "sft_openai.jsonl",
    ),
    ExportFormat(
        "kto",
        "trl",
        "unpaired preference, boolean `label`",
        "exports.trl:kto_record",
        "exports.checks:trl_kto",
        "kto_trl.jsonl",
    ),
    ExportFormat(
        "reward",
        "trl",
        "preference, implicit prompt",
        "exports.trl:reward_record",
        "exports.checks:trl_reward",
        "reward_trl.jsonl",
    ),
    ExportFormat(
        "evals",
        "openai-evals",
        "OpenAI Evals API items",
        "exports.evals:openai_evals_record",
        "exports.checks:openai_evals",
        "evals_openai-evals.jsonl",
    ),
    ExportFormat(
        "evals",
        "oaieval",
        "classic openai/evals samples",
        "exports.evals:oaieval_record",
        "exports.checks:oaieval",
        "evals_oaieval.jsonl",
    ),
    ExportFormat(
        "evals",
        "promptfoo",
        "promptfoo test cases",
        "exports.evals:promptfoo_record",
        "exports.checks:promptfoo",
        "evals_promptfoo.jsonl",
    ),
    ExportFormat(
        "judgments", "csv", "one row per judgment in force, with a header row", None, None, "judgments.csv"
    ),
    ExportFormat(
        "judgments", "parquet", "one row per judgment in force, times as timestamps", None, None, None
    ),
    ExportFormat(
        "judgments",
        "jsonl",
        "one row per judgment in force, one JSON object a line",
        None,
        None,
        "judgments.jsonl",
    ),
)

KINDS: dict[str, tuple[str, ...]] = {}
for _format in FORMATS:
    KINDS[_format.kind] = (*KINDS.get(_format.kind, ()), _format.target)
TARGETS: tuple[str, ...] = tuple(dict.fromkeys(f.target for f in FORMATS))
_BY_KEY = {(f.kind, f.target): f for f in FORMATS}


def export_format(kind: str, target: str) -> ExportFormat:
    """The format of `kind` exported to `target` (KeyError if there is none: flags are checked first)."""
    return _BY_KEY[(kind, target)]
