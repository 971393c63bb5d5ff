"""The fast import path stores exactly what the general path stores, and refuses what it refuses
with the same words: every case is imported both ways and the stores compared."""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labeling import ingest
from labeling.errors import ImportRejected
from labeling.ingest_fast import FastPlanner, NotFast
from store.db import Store, open_store
from tests.conftest import write_jsonl

NOW = datetime(2026, 1, 2, 3, 4, 5)


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row in storage order, without the random import id."""
    queries = {
        "items": "SELECT * EXCLUDE (import_id) FROM items ORDER BY rowid",
        "responses": "SELECT * EXCLUDE (import_id) FROM responses ORDER BY rowid",
        "pairs": "SELECT * EXCLUDE (import_id) FROM pairs ORDER BY rowid",
        "imports": "SELECT * EXCLUDE (id) FROM imports ORDER BY rowid",
        "dataset_wording": "SELECT * FROM dataset_wording ORDER BY seq",
    }
    with store.cursor() as cur:
        return {name: cur.execute(sql).fetchall() for name, sql in queries.items()}


def general_only(*args: Any, **kwargs: Any) -> ingest.ImportReport:
    raise NotFast


class Outcome:
    """What one way of importing did: a report or the refusal per import, and the store."""

    def __init__(self) -> None:
        self.store = open_store()
        self.ran_fast: list[bool] = []
        self.results: list[Any] = []

    def spy(self, fast_path: Any) -> Any:
        def spied(*args: Any, **kwargs: Any) -> ingest.ImportReport:
            try:
                report = fast_path(*args, **kwargs)
            except NotFast:
                self.ran_fast.append(False)
                raise
            self.ran_fast.append(True)
            return report

        return spied

    def run(self, call: Any) -> None:
        try:
            self.results.append(dataclasses.asdict(call(self.store)))
        except ImportRejected as exc:
            self.results.append(str(exc))


def both_ways(
    monkeypatch: pytest.MonkeyPatch, *calls: Any, chunk_records: int = 2
) -> tuple[Outcome, Outcome]:
    """Run the same imports on two stores, by the general path only and fast path first (in
    chunks of a few records, so that chunk boundaries are crossed); compare."""
    general, fast = Outcome(), Outcome()
    with monkeypatch.context() as patch:
        patch.setattr(ingest, "_import_fast", general_only)
        for call in calls:
            general.run(call)
    with monkeypatch.context() as patch:
        patch.setattr(ingest, "FastPlanner", functools.partial(FastPlanner, chunk_records=chunk_records))
        patch.setattr(ingest, "_import_fast", fast.spy(ingest._import_fast))
        for call in calls:
            fast.run(call)
    assert fast.results == general.results
    assert snapshot(fast.store) == snapshot(general.store)
    return general, fast


def importing(*paths: Path, **options: Any) -> Any:
    return lambda store: ingest.import_files(store, list(paths), now=lambda: NOW, **options)


PAIRS = [
    {"id": f"q{n}", "prompt": f"Question {n}?", "response_a": f"A{n}", "response_b": f"B{n}"}
    for n in range(5)
]


def test_a_clean_pairs_file_takes_the_fast_path_and_stores_the_same(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rows = [{**row, "model_a": "bot-v1", "model_b": "bot-v2"} for row in PAIRS]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    _, fast = both_ways(monkeypatch, importing(path, dataset="d"), importing(path, dataset="d"))
    assert fast.ran_fast == [True, True]
    assert fast.results[0]["pairs_added"] == 5
    assert fast.results[1]["items_already_stored"] == 5 and fast.results[1]["pairs_added"] == 0


def test_a_dataset_header_and_flags_are_stored_the_same_both_ways(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    header = {"prefdesk_dataset": {"question": "Which reply is kinder?", "user_label": "Customer"}}
    path = write_jsonl(tmp_path / "p.jsonl", [header, *PAIRS])
    bad = write_jsonl(tmp_path / "bad.jsonl", [*PAIRS, header])
    _, fast = both_ways(
        monkeypatch,
        importing(path, dataset="d"),
        importing(path, dataset="d", wording={"assistant_label": "Agent"}),
        importing(bad, dataset="e"),
    )
    assert fast.ran_fast == [True, True, False]
    assert fast.results[0]["records"] == 5 and fast.results[0]["wording"]["user_label"] == "Customer"
    assert fast.results[1]["wording"]["assistant_label"] == "Agent"
    assert f"{bad}:6: prefdesk_dataset: a dataset header must be the first line" in fast.results[2]
    assert len(snapshot(fast.store)["dataset_wording"]) == 2


# Each list of records is written as one JSONL file and imported both ways.
SAME_RESULT_CASES: dict[str, list[dict[str, Any]]] = {
    "pairs with every optional field": [
        {
            "id": 7,
            "system": "Be brief.",
            "prompt": "Refund?",
            "response_a": "  Yes. ",
            "response_b": "No.",
            "model_a": " v1 ",
            "group_key": 12,
            "metadata": {"channel": "email", "score": 0.5},
            "lang": "en",
            "flag": None,
        },
        {"id": " spaced ", "prompt": "Q", "response_a": "x", "response_b": "y", "model_b": None},
    ],
    "pairs with message prompts and text parts": [
        {
            "prompt": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}],
                }
            ],
            "response_a": "a",
            "response_b": [{"type": "text", "text": "b"}],
        }
    ],
    "pairs without ids merge by prompt": [
        {"prompt": "Same?", "response_a": "a", "response_b": "b"},
        {"prompt": "Same?", "response_a": "a", "response_b": "c"},
    ],
    "a repeated identical line": [PAIRS[0], PAIRS[1], PAIRS[0]],
    "responses, plain and with extras": [
        {
            "id": "r1",
            "prompt": "Q1",
            "responses": [{"model": "a", "content": "x"}, {"model": "b", "content": "y"}],
        },
        {
            "id": "r2",
            "prompt": "Q2",
            "responses": [
                {"model": "a", "content": "x", "latency_ms": 12},
                {"model": "b", "content": "y"},
                {"model": "c", "content": "z"},
            ],
            "metadata": {"k": 1},
            "group_key": "g",
        },
    ],
    "trl rows": [
        {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."},
        {"chosen": "The sea is blue.", "rejected": "The sea is red.", "id": "t2"},
    ],
    "arena battles of one question": [
        {
            "question_id": "q1",
            "model_a": "m1",
            "model_b": "m2",
            "winner": "model_a",
            "conversation_a": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
            "conversation_b": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}],
        },
        {
            "question_id": "q1",
            "model_a": "m3",
            "model_b": "m2",
            "winner": "tie",
            "conversation_a": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}],
            "conversation_b": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}],
        },
    ],
    "an error after the first chunks": [
        *PAIRS,
        {"id": "bad", "prompt": "Q", "response_a": "x", "response_b": " x"},
    ],
    "a duplicate id with other content": [*PAIRS, {**PAIRS[0], "prompt": "Changed?"}],
    "a blank answer": [{"prompt": "Q", "response_a": "\u2028\x1f", "response_b": "y"}],
}


@pytest.mark.parametrize("case", list(SAME_RESULT_CASES))
def test_each_case_stores_or_refuses_the_same_both_ways(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, case: str
) -> None:
    path = write_jsonl(tmp_path / "case.jsonl", SAME_RESULT_CASES[case])
    both_ways(monkeypatch, importing(path, dataset="d"))


def test_files_of_every_reader_and_several_files_at_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    jsonl = write_jsonl(tmp_path / "a.jsonl", PAIRS[:2])
    array = tmp_path / "b.json"
    array.write_text(json.dumps(PAIRS[2:3]), encoding="utf-8")
    table = tmp_path / "c.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "prompt", "response_a", "response_b", "channel"])
        writer.writerow(["q3", "Question 3?", "A3", "B3", "email"])
        writer.writerow(["q9", "Question 9?", "A9", "B9", ""])
    parquet = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(PAIRS[4:]), parquet)
    _, fast = both_ways(monkeypatch, importing(jsonl, array, table, parquet, dataset="d"))
    assert fast.ran_fast == [True]


def test_growing_a_stored_item(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "a.jsonl", PAIRS[:3])
    grown = write_jsonl(tmp_path / "b.jsonl", [*PAIRS[:3], {**PAIRS[1], "response_b": "Better B1"}])
    responses = [
        {
            "id": "r",
            "prompt": "Q",
            "responses": [{"model": "a", "content": "x"}, {"model": "b", "content": "y"}],
        }
    ]
    more = [{**responses[0], "responses": [*responses[0]["responses"], {"model": "c", "content": "z"}]}]
    changed = write_jsonl(tmp_path / "c.jsonl", [{**PAIRS[2], "prompt": "Another?"}])
    both_ways(
        monkeypatch,
        importing(first, dataset="d"),
        importing(grown, dataset="d"),  # the repeated id is the general path's
        importing(write_jsonl(tmp_path / "d.jsonl", [{**PAIRS[0], "response_b": "B0 again"}]), dataset="d"),
        importing(write_jsonl(tmp_path / "r1.jsonl", responses), dataset="d"),
        importing(write_jsonl(tmp_path / "r2.jsonl", more), dataset="d"),  # pairs with stored responses
        importing(changed, dataset="d"),  # refused: stored with another prompt
    )


def test_import_records_takes_the_fast_path_too(monkeypatch: pytest.MonkeyPatch) -> None:
    def call(store: Store) -> ingest.ImportReport:
        return ingest.import_records(store, [*PAIRS, PAIRS[0]], dataset="api", now=lambda: NOW)

    both_ways(monkeypatch, call)
    _, fast = both_ways(
        monkeypatch, lambda store: ingest.import_records(store, PAIRS, dataset="api", now=lambda: NOW)
    )
    assert fast.ran_fast == [True]


good_texts = st.one_of(
    st.sampled_from(["a", " a", "b ", "Q?", "12", "x\u2028y", "é"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=5).filter(str.strip),
)
odd_values = st.one_of(
    st.sampled_from(["", " ", "\u2028", "\x1f", "\xa0\x85"]),
    st.none(),
    st.integers(-3, 3),
    st.booleans(),
    st.floats(allow_nan=False),
    st.just([]),
    st.just([{"type": "text", "text": "a"}]),
)
ids = st.one_of(st.sampled_from(["a", "b", " c ", "d"]), st.integers(0, 3))


def now_and_then_odd(valid: st.SearchStrategy[dict[str, Any]], fields: list[str]) -> st.SearchStrategy[Any]:
    """A valid record, or one time in four the same record with one field odd (most examples
    must reach the fast path, some must not)."""
    return st.tuples(valid, st.integers(0, 3), st.sampled_from(fields), odd_values).map(
        lambda drawn: {**drawn[0], drawn[2]: drawn[3]} if drawn[1] == 0 else drawn[0]
    )


pairs_records = now_and_then_odd(
    st.builds(
        lambda prompt, answers, extra: {
            "prompt": prompt,
            "response_a": answers[0],
            "response_b": answers[1],
            **extra,
        },
        good_texts,
        st.lists(good_texts, min_size=2, max_size=2, unique_by=str.strip),
        st.fixed_dictionaries(
            {},
            optional={
                "id": ids,
                "model_a": good_texts,
                "model_b": good_texts,
                "system": good_texts,
                "group_key": ids,
                "metadata": st.dictionaries(good_texts, good_texts, max_size=2),
                "channel": good_texts,
            },
        ),
    ),
    ["id", "prompt", "response_a", "response_b", "model_a", "system", "group_key", "metadata", "channel"],
)
responses_records = now_and_then_odd(
    st.builds(
        lambda prompt, contents, extra: {
            "prompt": prompt,
            "responses": [{"model": f"m{n}", "content": content} for n, content in enumerate(contents)],
            **extra,
        },
        good_texts,
        st.lists(good_texts, min_size=1, max_size=3, unique_by=str.strip),
        st.fixed_dictionaries({}, optional={"id": ids, "group_key": ids, "metadata": st.just({"k": 1})}),
    ),
    ["id", "prompt", "responses", "group_key", "metadata"],
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    records=st.one_of(
        st.lists(pairs_records, min_size=1, max_size=4), st.lists(responses_records, min_size=1, max_size=4)
    )
)
def test_any_records_give_the_same_store_or_the_same_refusal(
    monkeypatch: pytest.MonkeyPatch, records: list[dict[str, Any]]
) -> None:
    def call(store: Store) -> ingest.ImportReport:
        return ingest.import_records(store, records, dataset="h", now=lambda: NOW)

    both_ways(monkeypatch, call, chunk_records=2)
