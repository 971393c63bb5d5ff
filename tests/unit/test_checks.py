"""Broken records fail loudly: the self-checks that run before any export file is written."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from exports import checks, trl
from exports.run import run_export
from labeling.clock import utc_now
from labeling.errors import ExportError
from store.db import Store

U = {"role": "user", "content": "Hi?"}
S = {"role": "system", "content": "Be brief."}
A = {"role": "assistant", "content": "Hello!"}
B = {"role": "assistant", "content": "No."}

BROKEN: list[tuple[checks.Check, dict[str, Any], str]] = [
    (checks.trl_dpo, {"prompt": [U, A], "chosen": [A], "rejected": [B]}, "ends with a assistant turn"),
    (checks.trl_dpo, {"prompt": [U, S], "chosen": [A], "rejected": [B]}, "system message that is not first"),
    (checks.trl_dpo, {"prompt": [U], "chosen": [A], "rejected": [A]}, "chosen and rejected are identical"),
    (checks.trl_dpo, {"prompt": [U], "chosen": [A, B], "rejected": [B]}, "exactly one assistant message"),
    (checks.trl_dpo, {"prompt": [U], "chosen": [], "rejected": [B]}, "non-empty list"),
    (checks.trl_dpo, {"prompt": [U], "chosen": [U], "rejected": [B]}, "exactly one assistant message"),
    (checks.trl_dpo, {"prompt": "Hi?", "chosen": " ", "rejected": " No."}, "non-empty text"),
    (
        checks.trl_dpo,
        {"prompt": [U], "chosen": [{"role": "assistant", "content": 3}], "rejected": [B]},
        "no text content",
    ),
    (
        checks.trl_dpo,
        {"prompt": [{"role": "developer", "content": "x"}, U], "chosen": [A], "rejected": [B]},
        "no valid role",
    ),
    (checks.trl_reward, {"chosen": [U, A], "rejected": [S, U, B]}, "share the prompt"),
    (checks.trl_reward, {"chosen": [U, A], "rejected": [U, A]}, "identical"),
    (checks.trl_sft, {"messages": [U]}, "end with the assistant answer"),
    (checks.trl_sft, {"prompt": [U], "completion": [U]}, "exactly one assistant message"),
    (checks.trl_kto, {"prompt": [U], "completion": [A], "label": "yes"}, "label must be a boolean"),
    (checks.trl_kto, {"prompt": [U], "completion": [A], "label": 1}, "label must be a boolean"),
    (
        checks.openai_dpo,
        {"input": {"messages": [U]}, "preferred_completion": [A], "non_preferred_completion": [B]},
        "unexpected keys",
    ),
    (
        checks.openai_dpo,
        {"input": {"messages": [U]}, "preferred_output": [{**A, "weight": 1}], "non_preferred_output": [B]},
        "has a weight",
    ),
    (
        checks.openai_dpo,
        {"input": {"messages": [U], "id": "x"}, "preferred_output": [A], "non_preferred_output": [B]},
        "input may only hold",
    ),
    (checks.openai_sft, {"messages": [{**U, "weight": 0}, A]}, "allowed only on assistant messages"),
    (checks.openai_sft, {"messages": [U, {**A, "weight": 0.5}]}, "only 0 or 1"),
    (checks.openai_sft, {"messages": [U, {**A, "weight": True}]}, "only 0 or 1"),
    (checks.openai_sft, {"messages": [U, A], "id": "nw-1"}, "unexpected keys"),
]


@pytest.mark.parametrize(("check", "record", "message"), BROKEN)
def test_a_broken_record_is_named(check: checks.Check, record: dict[str, Any], message: str) -> None:
    problem = check(record)
    assert problem is not None and message in problem


@pytest.mark.parametrize(
    ("check", "record"),
    [
        (checks.trl_dpo, {"prompt": [S, U], "chosen": [A], "rejected": [B]}),
        (checks.trl_dpo, {"prompt": "Hi?", "chosen": " Hello!", "rejected": " No."}),
        (checks.trl_reward, {"chosen": [U, A], "rejected": [U, B]}),
        (checks.trl_sft, {"messages": [S, U, A]}),
        (checks.trl_kto, {"prompt": [U], "completion": [A], "label": False}),
        (
            checks.openai_dpo,
            {"input": {"messages": [S, U]}, "preferred_output": [A], "non_preferred_output": [B]},
        ),
        (checks.openai_sft, {"messages": [S, U, {**B, "weight": 0}, U, {**A, "weight": 1}]}),
    ],
)
def test_a_good_record_passes(check: checks.Check, record: dict[str, Any]) -> None:
    assert check(record) is None


def test_a_broken_record_fails_the_export_and_writes_nothing(
    seeded_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labeling.desk import Desk, ShownPair

    desk = Desk(seeded_store)
    while (showing := desk.next_showing("ana")) is not None:
        desk.submit("ana", ShownPair.of(showing), "left")

    original = trl.dpo_record

    def broken(example: Any, standard: bool = False) -> dict[str, Any]:
        record = original(example, standard=standard)
        return {**record, "rejected": record["chosen"]}

    monkeypatch.setattr(trl, "dpo_record", broken)
    with pytest.raises(
        ExportError,
        match=r"the record for item 'support/t-\d+' \(p_\w+\) is broken: chosen and rejected are identical",
    ):
        run_export(seeded_store, tmp_path / "out", kind="dpo", target="trl", now=utc_now)
    assert not (tmp_path / "out").exists()  # not even the folder


_MISSING = object()


def _variants() -> list[dict[str, Any]]:
    """Every message made of these values: good and bad roles, texts and weights, extra keys."""
    roles = ["system", "user", "assistant", "tool", "developer", "", 3, None, _MISSING]
    texts = ["Hi", "", " ", "\u3000", "\n\t", 3, None, ["Hi"], _MISSING]
    weights = [0, 1, 2, True, False, 0.5, None, "1", _MISSING]
    extras: list[dict[str, Any]] = [{}, {"name": "x"}, {"tool_call_id": "c1"}, {"tool_calls": []}]
    variants = []
    for role, text, weight, extra in itertools.product(roles, texts, weights, extras):
        fields = {"role": role, "content": text, "weight": weight, **extra}
        variants.append({key: value for key, value in fields.items() if value is not _MISSING})
    return variants


def test_the_shortcut_for_plain_turns_never_passes_what_the_full_rules_refuse() -> None:
    """Checks skip the full walk for plain turns (exports/checks.py _plain_turns): that shortcut
    must only ever accept lists the full rules accept, and report their last role. Every message
    of _variants() alone and after a system or user turn, with every option."""
    accepted = 0
    for message in _variants():
        for value in ([message], [S, message], [U, message], [message, U]):
            for weights, openai in itertools.product((False, True), repeat=2):
                last = checks._plain_turns(value, weights=weights)
                if last is not None:
                    accepted += 1
                    assert checks._messages(value, "m", weights=weights, openai=openai) is None, value
                    assert last == value[-1]["role"]
    assert accepted  # the shortcut is taken at all


def test_the_shortcut_takes_the_common_records() -> None:
    assert checks._plain_turns([S, U]) == "user"
    assert checks._plain_turns([U, {**A, "weight": 1}], weights=True) == "assistant"
    assert checks._plain_turns([U, {**A, "weight": 1}]) is None  # weights only where allowed
    assert checks._plain_turns([U, S]) is None
