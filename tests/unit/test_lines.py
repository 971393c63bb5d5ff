"""The lines the store writes for plain records are the lines the builders and checks write.

exports/lines.py has the store assemble the JSONL line of a plain record (no record dict, no
check walk). Each export below runs twice on the same judgments, once with those lines and once
building and checking every record, and the files must be the same bytes: over texts with
quotes, backslashes, control characters, Unicode blanks and separators, literal `\\u00` escapes,
prompts of several turns, system prompts, tool calls and blank-looking answers.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from exports import lines as lines_module
from exports import run as run_module
from exports.lines import TEMPLATES
from exports.run import ExportOptions, run_export
from labeling.clock import utc_now
from labeling.ingest import import_files
from labeling.judgments import record_pair_judgment
from store import judgments as log
from store.db import Store
from tests.conftest import write_jsonl

# Texts a line must encode exactly as orjson does (DuckDB's to_json writes \u000B, orjson \u000b).
TEXTS = [
    "Hello!",
    'Say "hi" \\ back / forth',
    "tab\there, line\nbreak, return\r, form\x0cfeed, back\x08space",
    "vertical\x0btab, \x0e shift, \x1a sub, \x1f unit, \x00 nul",
    "del \x7f, next line \x85, no-break\xa0space",
    "line\u2028separator and paragraph\u2029separator",
    "é ü 中文 😀 \U0001f600",
    " leading space",
    "\u3000ideographic space first",
    "trailing blank\u3000",
    "a literal \\u00e9 escape and \\u000B",
    "\\",
    "x",
    "</script><!-- -->",
    "'single' quotes",
    "\n\nanswer after newlines",
]

PROMPTS: list[Any] = [
    "Where is my order?",
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi \u2028 there"}],
    [
        {"role": "user", "content": "First \\ question"},
        {"role": "assistant", "content": "An earlier answer with \x0b"},
        {"role": "user", "content": "A follow-up, \u3000 spaced"},
    ],
    [
        {"role": "user", "content": "Where is order 7?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_7",
                    "type": "function",
                    "function": {"name": "find_order", "arguments": '{"order": 7}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_7", "content": '{"status": "shipped"}'},
    ],
    [
        {"role": "system", "content": "Answer in one line."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": 'Hello, "friend" \\ /'},
        {"role": "user", "content": "Again?"},
    ],
    "\x0b control in the prompt",
    "A prompt with a literal \\u0041",
]


def _records() -> list[dict[str, Any]]:
    records = []
    pairs_of_texts = itertools.permutations(TEXTS, 2)
    for n, (prompt, (first, second)) in enumerate(zip(itertools.cycle(PROMPTS), pairs_of_texts)):
        if n >= 3 * len(TEXTS) * len(PROMPTS):
            break
        records.append(
            {
                "id": f"item-{n:03d}",
                "prompt": prompt,
                "responses": [
                    {"model": "bot-v1", "content": first},
                    {"model": "bot-v2", "content": second},
                ],
            }
        )
    return records


@pytest.fixture
def varied_store(store: Store, tmp_path: Path) -> Store:
    import_files(store, [write_jsonl(tmp_path / "varied.jsonl", _records())], dataset="varied")
    with store.cursor() as cur:
        pairs = cur.execute("SELECT id, response_a_id, response_b_id FROM pairs ORDER BY seq").fetchall()
    for n, (pair_id, a, b) in enumerate(pairs):
        verdict = ("left", "right", "both_bad", "left", "tie")[n % 5]
        record_pair_judgment(
            store,
            client_id=f"judgment-{n:05d}",
            annotator="ana",
            pair_id=pair_id,
            left_id=a,
            right_id=b,
            verdict=verdict,
            strength=1 + n % 3 if verdict in ("left", "right") else None,
            now=utc_now,
        )
    return store


VARIANTS = [
    ("dpo", "trl", {}),
    ("dpo", "openai", {}),
    ("reward", "trl", {}),
    ("sft", "trl", {}),
    ("sft", "trl", {"prompt_completion": True}),
    ("sft", "openai", {}),
    ("kto", "trl", {}),
    ("kto", "trl", {"eval_fraction": 0.3, "seed": 2}),  # two files: lines routed per split
]


def test_every_template_is_exercised() -> None:
    variants = {(k, t, "prompt_completion" if o.get("prompt_completion") else "") for k, t, o in VARIANTS}
    assert variants | {("reward", "trl", "margin")} == set(TEMPLATES)


@pytest.mark.parametrize(("kind", "target", "flags"), VARIANTS)
def test_store_lines_are_the_built_and_checked_lines(
    varied_store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    target: str,
    flags: dict[str, Any],
) -> None:
    options = ExportOptions(allow_eval_overlap=True, **flags)
    made: list[bool] = []
    record_lines = log.record_lines

    def counted(*args: Any, **kwargs: Any) -> Any:
        result = record_lines(*args, **kwargs)
        made.extend(line is not None for line in result.to_pylist())
        return result

    monkeypatch.setattr(log, "record_lines", counted)
    fast = run_export(varied_store, tmp_path / "fast", kind=kind, target=target, options=options, now=utc_now)
    monkeypatch.setattr(run_module, "lines_for", lambda *args, **kwargs: None)
    slow = run_export(varied_store, tmp_path / "slow", kind=kind, target=target, options=options, now=utc_now)
    assert fast["files"] == slow["files"] and fast["records"] == slow["records"] > 0
    for name in fast["files"].values():
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "slow" / name).read_bytes(), name
    # both ways were taken: lines made by the store, and records built and checked one at a time
    assert any(made) and not all(made), made.count(True)


def test_a_margin_column_is_written_as_the_builder_writes_it(
    varied_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = run_export(
        varied_store, tmp_path / "fast", kind="reward", target="trl", options=ExportOptions(), now=utc_now
    )
    assert fast["counts"]["margin_column"] == 1
    monkeypatch.setattr(run_module, "lines_for", lambda *args, **kwargs: None)
    run_export(
        varied_store, tmp_path / "slow", kind="reward", target="trl", options=ExportOptions(), now=utc_now
    )
    written = (tmp_path / "fast" / "reward_trl.jsonl").read_bytes()
    assert written == (tmp_path / "slow" / "reward_trl.jsonl").read_bytes()
    assert {json.loads(line)["margin"] for line in written.splitlines()} == {1.0, 2.0, 3.0}


def test_a_broken_plain_record_fails_with_its_checks_message(varied_store: Store, tmp_path: Path) -> None:
    """Identical answers are left to the record's check, which names the item."""
    with varied_store.cursor() as cur:
        pair_id, a, b = cur.execute(
            "SELECT p.id, p.response_a_id, p.response_b_id FROM pairs p JOIN items i ON i.id = p.item_id "
            'WHERE i.prompt::VARCHAR = \'[{"role":"user","content":"Where is my order?"}]\' '
            "ORDER BY p.seq LIMIT 1 OFFSET 3"
        ).fetchone()

    def same_text(tx: Any) -> None:
        tx.cur.execute(
            "UPDATE responses SET content = (SELECT content FROM responses WHERE id = ?) WHERE id = ?", [a, b]
        )

    varied_store.write(same_text)
    from labeling.errors import ExportError

    with pytest.raises(ExportError, match=rf"\({pair_id}\) is broken: chosen and rejected are identical"):
        run_export(varied_store, tmp_path / "out", kind="dpo", target="trl", now=utc_now)
    assert not (tmp_path / "out").exists()


def test_lines_for_names_a_template_only_where_there_is_one() -> None:
    assert lines_module.lines_for("dpo", "trl", ExportOptions(standard=True)) is None
    assert lines_module.lines_for("evals", "oaieval", ExportOptions()) is None
    found = lines_module.lines_for("reward", "trl", ExportOptions(), with_margin=True)
    assert found is not None and found.template is TEMPLATES["reward", "trl", "margin"]
