"""Train/eval splits never leak: no group, duplicate or near-duplicate prompt on both sides."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exports import split
from exports.run import ExportOptions, run_export
from exports.split import BANDS, NUM_PERM, cluster, near_duplicate_pairs, normalise, plan_split
from labeling.clock import utc_now
from labeling.desk import Desk, ShownPair
from labeling.ingest import import_files
from store.db import Store
from tests.conftest import write_jsonl

QUESTIONS = [
    "Where is my order? It was due on Monday and the tracking page shows nothing at all since Friday.",
    "How do I reset my password when the reset email never arrives in my inbox or spam folder?",
    "Can I get a refund for an ebook I bought yesterday by mistake and never downloaded?",
    "Why does the reader app log me out every time I open it on my phone during my commute?",
    "Is the print subscription available in Portugal and how much does postage cost per issue?",
]


def variant(text: str, style: int) -> str:
    """The same question as a person might type it again: case, punctuation, one word more."""
    return [text, text.upper(), text.replace("?", "??"), "Hello, " + text, text.lower() + " thanks"][style]


items_strategy = st.dictionaries(
    keys=st.text("abcdefghij", min_size=3, max_size=6),
    values=st.tuples(
        st.sampled_from(["g1", "g2", "g3", "g4", "g5", "g6", "g7"]), st.integers(0, 4), st.integers(0, 4)
    ),
    min_size=2,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(items=items_strategy, fraction=st.floats(0.05, 0.9), seed=st.integers(0, 1000))
def test_no_group_or_near_duplicate_is_on_both_sides(
    items: dict[str, tuple[str, int, int]], fraction: float, seed: int
) -> None:
    prompts = {item_id: (group, variant(QUESTIONS[q], style)) for item_id, (group, q, style) in items.items()}
    plan = plan_split(prompts, dict.fromkeys(prompts, 1), eval_fraction=fraction, seed=seed)
    train = set(prompts) - plan.eval_items
    assert plan.eval_items, "a positive fraction puts at least one cluster in eval"
    assert not {prompts[i][0] for i in train} & {prompts[i][0] for i in plan.eval_items}
    question_of = {item_id: q for item_id, (_, q, _) in items.items()}
    assert not {question_of[i] for i in train} & {question_of[i] for i in plan.eval_items}


def test_near_duplicates_cluster_and_different_prompts_do_not() -> None:
    items = {f"v{n}": (f"g{n}", variant(QUESTIONS[0], n)) for n in range(5)}
    items |= {f"q{n}": (f"h{n}", text) for n, text in enumerate(QUESTIONS[1:])}
    clusters = cluster(items)
    assert len({clusters[f"v{n}"] for n in range(5)}) == 1
    assert len(set(clusters.values())) == 1 + len(QUESTIONS[1:])


def test_normalise() -> None:
    assert normalise("Ｗｈｅｒｅ's  MY order?!") == normalise("where s my order") == "where s my order"


def test_the_same_seed_gives_the_same_split() -> None:
    items = {f"i{n}": (f"g{n}", f"question number {n} about order {n * 7}") for n in range(200)}
    counts = dict.fromkeys(items, 1)
    first = plan_split(items, counts, eval_fraction=0.2, seed=4)
    assert first == plan_split(items, counts, eval_fraction=0.2, seed=4)
    assert first.eval_items != plan_split(items, counts, eval_fraction=0.2, seed=5).eval_items
    assert 35 <= len(first.eval_items) <= 45


def judged(store: Store, tmp_path: Path, count: int = 40) -> Store:
    records = [
        {
            "id": f"s{n}",
            "prompt": f"Ticket {n}: my order {n * 13} from shop {n % 7} has not arrived yet, what now?",
            "responses": [
                {"model": "a", "content": f"Sorry! Order {n} ships today."},
                {"model": "b", "content": "Wait."},
            ],
            "group_key": f"thread-{n // 2}",  # two tickets per conversation
        }
        for n in range(count)
    ]
    import_files(store, [write_jsonl(tmp_path / "s.jsonl", records)], dataset="s")
    desk = Desk(store, rng=random.Random(0))
    while (showing := desk.next_showing("ana")) is not None:
        desk.submit("ana", ShownPair.of(showing), "left")
    return store


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_an_export_with_an_eval_split_writes_both_and_registers_eval_items(
    store: Store, tmp_path: Path
) -> None:
    judged(store, tmp_path)
    out = tmp_path / "split"
    manifest = run_export(
        store, out, kind="dpo", target="trl", options=ExportOptions(eval_fraction=0.25, seed=1), now=utc_now
    )
    assert manifest["files"] == {"train": "dpo_trl.train.jsonl", "eval": "dpo_trl.eval.jsonl"}
    train, evaluation = lines(out / "dpo_trl.train.jsonl"), lines(out / "dpo_trl.eval.jsonl")
    assert manifest["split"]["train_records"] == len(train) and manifest["split"]["eval_records"] == len(
        evaluation
    )
    assert len(train) + len(evaluation) == manifest["records"] == 40
    assert 8 <= len(evaluation) <= 12
    card = (out / "README.md").read_text(encoding="utf-8")
    assert (
        "  - split: train\n    path: dpo_trl.train.jsonl\n  - split: eval\n    path: dpo_trl.eval.jsonl"
        in card
    )
    # conversations stay whole: both tickets of a thread are on the same side
    threads = {
        r["prompt"][0]["content"].split(":")[0]: side
        for side, rs in (("t", train), ("e", evaluation))
        for r in rs
    }  # type: ignore[index]
    for n in range(0, 40, 2):
        assert threads[f"Ticket {n}"] == threads[f"Ticket {n + 1}"]

    later = run_export(store, tmp_path / "later", kind="sft", target="trl", now=utc_now)
    assert later["split"]["records_excluded_as_eval_items"] == len(evaluation)
    assert later["records"] == 40 - len(evaluation)
    eval_prompts = {json.dumps(r["prompt"]) for r in evaluation}
    assert not eval_prompts & {
        json.dumps(r["messages"][:-1]) for r in lines(tmp_path / "later" / "sft_trl.jsonl")
    }  # type: ignore[index]

    overlap = run_export(
        store,
        tmp_path / "overlap",
        kind="sft",
        target="trl",
        options=ExportOptions(allow_eval_overlap=True),
        now=utc_now,
    )
    assert overlap["records"] == 40 and overlap["split"]["records_excluded_as_eval_items"] == 0

    run_export(
        store,
        tmp_path / "again",
        kind="dpo",
        target="trl",
        options=ExportOptions(eval_fraction=0.1, seed=9),
        now=utc_now,
    )
    again_eval = {json.dumps(r["prompt"]) for r in lines(tmp_path / "again" / "dpo_trl.eval.jsonl")}
    assert eval_prompts <= again_eval  # registered eval items stay eval items, whatever the seed


def test_a_false_candidate_between_two_near_duplicates_does_not_hide_them() -> None:
    """A and B agree on 52 of 64 positions (0.81: near-duplicates) but share only bands 0-3, one
    differing row in each other band. X shares bands 0-3 with both (the same LSH buckets) and
    nothing else (0.25). In bucket order X sits between A and B: comparing neighbours only
    (A-X, X-B) never compares A with B."""
    rows = NUM_PERM // BANDS
    a = np.arange(NUM_PERM, dtype=np.uint64)
    b = a.copy()
    b[[band * rows for band in range(4, BANDS)]] += np.uint64(10_000)
    x = a + np.uint64(20_000)
    x[: 4 * rows] = a[: 4 * rows]
    assert np.mean(a == b) >= 0.8 > np.mean(a == x)
    assert set(near_duplicate_pairs(np.stack([a, x, b]))) == {(0, 2)}  # once per shared band
    assert set(near_duplicate_pairs(np.stack([x, a, b]))) == {(1, 2)}  # neighbours: found either way


def test_signatures_in_chunks_are_the_signatures_of_all_texts_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    texts = [normalise(variant(q, style)) for q in QUESTIONS for style in range(5)] + ["", "one", "two words"]
    whole = split._signatures(texts)
    monkeypatch.setattr(split, "SIGNATURE_CHUNK", 4)  # 28 texts: 7 chunks, the last one short
    assert np.array_equal(split.signatures(texts), whole)
