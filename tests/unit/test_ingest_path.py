"""The one import path: what it decides across records and chunks, and the JSON rule every reader
shares. (The catalogue of malformed records is tests/unit/test_ingest.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from labeling.errors import ImportRejected
from labeling.ingest import import_files, import_records
from labeling.ingest.planner import Planner
from store import catalog
from store.db import Cursor, Store, open_store
from store.errors import StoreError
from tests.conftest import write_jsonl


def small_chunks(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """Plan `size` records per chunk, so that a few records cross chunk boundaries."""
    original = Planner.__init__

    def init(self: Planner, dataset: str, limits: Any, chunk_records: int = size) -> None:
        original(self, dataset, limits, chunk_records)

    monkeypatch.setattr(Planner, "__init__", init)


def rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    with store.cursor() as cur:
        return cur.execute(sql).fetchall()


def battle(question: str, model_a: str, model_b: str, winner: str = "model_a") -> dict[str, Any]:
    def side(model: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": question}, {"role": "assistant", "content": f"{model} says hi"}]

    return {
        "question_id": question,
        "model_a": model_a,
        "model_b": model_b,
        "winner": winner,
        "conversation_a": side(model_a),
        "conversation_b": side(model_b),
    }


@pytest.mark.parametrize("chunk", [1, 2, 1000])
def test_battles_of_one_question_merge_across_chunks_and_their_pairs_stay_together(
    monkeypatch: pytest.MonkeyPatch, store: Store, tmp_path: Path, chunk: int
) -> None:
    small_chunks(monkeypatch, chunk)
    battles = [
        battle("q1", "m1", "m2"),
        battle("q2", "m1", "m2"),
        battle("q1", "m2", "m3", "tie"),
        battle("q1", "m1", "m2"),  # the same battle again: nothing new
        battle("q2", "m3", "m1", "model_b"),
    ]
    report = import_files(store, [write_jsonl(tmp_path / "arena.jsonl", battles)], dataset="a")
    assert (report.items_added, report.responses_added, report.pairs_added) == (2, 6, 4)
    served = rows(
        store,
        "SELECT json_extract_string(i.prompt, '$[0].content'), r1.model, r2.model FROM pairs p "
        "JOIN items i ON i.id = p.item_id JOIN responses r1 ON r1.id = p.response_a_id "
        "JOIN responses r2 ON r2.id = p.response_b_id ORDER BY p.seq",
    )
    assert [(question, {a, b}) for question, a, b in served] == [
        ("q1", {"m1", "m2"}),
        ("q1", {"m2", "m3"}),
        ("q2", {"m1", "m2"}),
        ("q2", {"m1", "m3"}),
    ]


def test_a_responses_record_pairs_every_response_of_the_prompt_it_merges_into(
    monkeypatch: pytest.MonkeyPatch, store: Store, tmp_path: Path
) -> None:
    small_chunks(monkeypatch, 1)
    records = [
        {"prompt": "Same?", "response_a": "a", "response_b": "b"},
        {"prompt": "Same?", "responses": [{"model": "m", "content": "c"}, {"model": "n", "content": "a "}]},
    ]
    report = import_files(store, [write_jsonl(tmp_path / "mixed.jsonl", records[:1])], dataset="d")
    assert report.pairs_added == 1
    report = import_files(
        store,
        [write_jsonl(tmp_path / "more.jsonl", records[:1]), write_jsonl(tmp_path / "r.jsonl", records[1:])],
        dataset="d",
    )
    # a, b stored; c and "a " new: a-b stored, a-c, b-c, b-"a ", c-"a " new; a and "a " are one text
    assert (report.responses_added, report.pairs_added) == (2, 4)
    assert report.skipped == {"identical responses not paired": 1}
    assert rows(store, "SELECT count(*) FROM pairs") == [(5,)]


def test_problems_come_in_file_order_across_chunks_at_most_twenty(
    monkeypatch: pytest.MonkeyPatch, store: Store, tmp_path: Path
) -> None:
    small_chunks(monkeypatch, 3)
    good = {"prompt": "Q", "response_a": "a", "response_b": "b"}
    records: list[dict[str, Any]] = []
    expected: list[str] = []
    for n in range(1, 37):
        if n % 3 == 0:
            records.append({**good, "id": f"x{n}", "response_b": ""})
            expected.append(f":{n}: response_b: is empty")
        elif n % 3 == 1:
            records.append({**good, "id": f"x{n}", "prompt": [{"role": "bot", "content": "hi"}]})
            expected.append(f":{n}: prompt[0].role: unknown role 'bot'")
        else:
            records.append({**good, "id": f"x{n}"})
    path = write_jsonl(tmp_path / "bad.jsonl", records)
    with pytest.raises(ImportRejected) as rejected:
        import_files(store, [path])
    lines = str(rejected.value).splitlines()
    assert [line.split(" (use")[0] for line in lines[:20]] == [f"{path}{where}" for where in expected[:20]]
    assert lines[20:] == ["... and 4 more problem(s)", "Nothing was imported."]
    assert rows(store, "SELECT count(*) FROM responses") == [(0,)]


def test_a_rest_import_takes_the_same_path_with_the_same_words(store: Store) -> None:
    records = [{"prompt": "Q", "response_a": "a", "response_b": " a"}, {"prompt": "R", "response_a": "x"}]
    with pytest.raises(ImportRejected) as rejected:
        import_records(store, records, dataset="api", source="records")
    assert str(rejected.value).splitlines() == [
        "records (record 1): response_b: has the same content as response_a: nothing to compare",
        "records (record 2): response_b: is missing",
        "Nothing was imported.",
    ]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_json_arrays_refuse_nan_and_infinity_as_jsonl_does(tmp_path: Path, value: str) -> None:
    text = f'{{"prompt": "Q", "response_a": "a", "response_b": "b", "score": {value}}}'
    (tmp_path / "r.jsonl").write_text(text + "\n", encoding="utf-8")
    (tmp_path / "r.json").write_text(f"[\n{text}\n]", encoding="utf-8")
    said = []
    for name in ("r.jsonl", "r.json"):
        store = open_store()
        with pytest.raises(ImportRejected) as rejected:
            import_files(store, [tmp_path / name])
        assert rows(store, "SELECT count(*) FROM items") == [(0,)]
        said.append(str(rejected.value).replace(name, "FILE"))
    assert said[0].startswith(f"{tmp_path}/FILE:1: not valid JSON: ")
    assert said[1] == said[0].replace("FILE:1:", "FILE:2:")


@pytest.mark.parametrize("winner", [["model_a"], {"model": "a"}, 1])
def test_an_arena_winner_that_is_not_a_string_is_a_problem_not_a_crash(
    store: Store, tmp_path: Path, winner: Any
) -> None:
    path = write_jsonl(tmp_path / "arena.jsonl", [{**battle("q1", "m1", "m2"), "winner": winner}])
    with pytest.raises(ImportRejected) as rejected:
        import_files(store, [path])
    assert f"{path}:1: winner: unknown value {winner!r} (expected one of" in str(rejected.value)


def test_a_repeated_id_is_compared_by_its_whole_content(store: Store, tmp_path: Path) -> None:
    first = {"id": "t1", "prompt": "Q", "chosen": "yes", "rejected": "no", "metadata": {"k": 1}}
    path = write_jsonl(
        tmp_path / "trl.jsonl",
        [first, dict(first), {**first, "metadata": {"k": 2}}, {**first, "model_chosen": "v2"}],
    )
    with pytest.raises(ImportRejected) as rejected:
        import_files(store, [path])
    assert str(rejected.value).splitlines() == [
        f"{path}:3: id: duplicate id 't1' with different content (first seen at {path}:1)",
        f"{path}:4: id: duplicate id 't1' with different content (first seen at {path}:1)",
        "Nothing was imported.",
    ]
    report = import_files(store, [write_jsonl(tmp_path / "ok.jsonl", [first, first])])
    assert (report.items_added, report.duplicate_records) == (1, 1)
    assert json.loads(rows(store, "SELECT metadata FROM items")[0][0]) == {"k": 1}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_records_sent_with_nan_or_infinity_are_refused_like_files(store: Store, value: float) -> None:
    records = [
        {"prompt": "Q", "response_a": "a", "response_b": "b"},
        {"prompt": "R", "response_a": "a", "response_b": "b", "metadata": {"score": [1.5, value]}},
    ]
    with pytest.raises(ImportRejected) as rejected:
        import_records(store, records, dataset="api", source="records")
    assert str(rejected.value).splitlines() == [
        "records (record 2): not valid JSON: NaN and Infinity are not numbers JSON allows",
        "Nothing was imported.",
    ]
    assert rows(store, "SELECT count(*) FROM items") == [(0,)]


def pair_records(prefix: str, count: int, content: str = "") -> list[dict[str, Any]]:
    return [
        {"id": f"{prefix}{n}", "prompt": f"Q{n}", "response_a": f"a{n}{content}", "response_b": f"b{n}"}
        for n in range(count)
    ]


def test_items_are_numbered_in_file_order_and_a_refused_import_takes_no_numbers(
    monkeypatch: pytest.MonkeyPatch, store: Store, tmp_path: Path
) -> None:
    small_chunks(monkeypatch, 2)  # items are stored chunk by chunk, numbered in advance
    import_files(store, [write_jsonl(tmp_path / "first.jsonl", pair_records("f", 3))], dataset="d")
    refused = [*pair_records("r", 5), {"id": "bad", "prompt": "Q", "response_a": "a", "response_b": " "}]
    with pytest.raises(ImportRejected):  # its first four items were stored, then rolled back
        import_files(store, [write_jsonl(tmp_path / "refused.jsonl", refused)], dataset="d")
    import_files(store, [write_jsonl(tmp_path / "next.jsonl", pair_records("n", 3))], dataset="d")
    assert rows(store, "SELECT source_id, seq FROM items ORDER BY seq") == [
        ("f0", 1),
        ("f1", 2),
        ("f2", 3),
        ("n0", 4),
        ("n1", 5),
        ("n2", 6),
    ]
    assert rows(store, "SELECT count(*), min(seq), max(seq) FROM pairs") == [(6, 1, 6)]


def test_an_import_leaves_the_engine_settings_as_it_found_them(store: Store, tmp_path: Path) -> None:
    def threads() -> list[tuple[Any, ...]]:
        return rows(store, "SELECT current_setting('threads')")

    before = threads()
    import_files(store, [write_jsonl(tmp_path / "good.jsonl", pair_records("g", 2))], dataset="d")
    assert threads() == before
    with pytest.raises(ImportRejected):
        import_files(store, [write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "Q"}])], dataset="d")
    assert threads() == before


def test_an_engine_error_inside_an_import_is_the_error_reported_and_the_settings_come_back(
    monkeypatch: pytest.MonkeyPatch, store: Store, tmp_path: Path
) -> None:
    before = rows(store, "SELECT current_setting('threads')")

    def refused_by_the_engine(cur: Cursor, import_id: str, count: int) -> None:
        cur.execute("SELECT error('the engine refused this')")

    monkeypatch.setattr(catalog, "number_items", refused_by_the_engine)
    with pytest.raises(StoreError, match="the engine refused this"):
        import_files(store, [write_jsonl(tmp_path / "good.jsonl", pair_records("g", 2))], dataset="d")
    assert rows(store, "SELECT current_setting('threads')") == before
    assert rows(store, "SELECT count(*) FROM items") == [(0,)]


def test_rows_stored_chunk_by_chunk_are_not_also_held_until_the_commit(
    monkeypatch: pytest.MonkeyPatch, store: Store, tmp_path: Path
) -> None:
    import pyarrow as pa

    from store import catalog

    small_chunks(monkeypatch, 50)
    held: list[int] = []
    insert_import_record = catalog.insert_import_record

    def at_the_end(*args: Any, **kwargs: Any) -> None:  # the import's last write before the commit
        held.append(pa.total_allocated_bytes())
        insert_import_record(*args, **kwargs)

    monkeypatch.setattr(catalog, "insert_import_record", at_the_end)
    before = pa.total_allocated_bytes()
    records = pair_records("m", 400, content=" " + "x" * 10_000)  # 4 MB of responses
    report = import_files(store, [write_jsonl(tmp_path / "many.jsonl", records)], dataset="d")
    assert report.pairs_added == 400
    assert held and held[0] - before < 1_000_000  # the pairs (and one chunk at most), not 4 MB


def test_items_imported_after_the_store_is_reopened_continue_its_numbering(tmp_path: Path) -> None:
    path = tmp_path / "desk.duckdb"
    store = open_store(path)
    import_files(store, [write_jsonl(tmp_path / "first.jsonl", pair_records("f", 2))], dataset="d")
    store.close()
    store = open_store(path)  # a reopened DuckDB sequence reports its next value as its last
    try:
        import_files(store, [write_jsonl(tmp_path / "next.jsonl", pair_records("n", 2))], dataset="d")
        assert rows(store, "SELECT source_id, seq FROM items ORDER BY seq") == [
            ("f0", 1),
            ("f1", 2),
            ("n0", 3),
            ("n1", 4),
        ]
    finally:
        store.close()
