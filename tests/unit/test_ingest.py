"""The import catalogue: malformed inputs fail loudly and store nothing; edge cases round-trip."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labeling.errors import ImportRejected
from labeling.ingest import import_files
from labeling.models import messages_from_json
from store import catalog
from store.db import Store
from tests.conftest import write_jsonl

GOOD = {
    "id": "g1",
    "prompt": "Where is my order?",
    "responses": [{"model": "a", "content": "It shipped."}, {"model": "b", "content": "Soon."}],
}


def counts(store: Store) -> tuple[int, ...]:
    with store.cursor() as cur:
        return tuple(
            cur.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 (fixed names)
            for table in ("items", "responses", "pairs", "imports")
        )


def jsonl_lines(path: Path, *lines: str | bytes) -> Path:
    path.write_bytes(b"".join((line.encode() if isinstance(line, str) else line) + b"\n" for line in lines))
    return path


def record(**changes: Any) -> str:
    return json.dumps({**GOOD, **changes}, ensure_ascii=False)


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def two(content_a: Any = "It shipped.", content_b: Any = "Soon.") -> list[dict[str, Any]]:
    return [{"model": "a", "content": content_a}, {"model": "b", "content": content_b}]


# (file name, contents writer, expected location, expected text)
CATALOGUE: list[tuple[str, Any, str, str]] = [
    (
        "truncated JSON line",
        lambda p: jsonl_lines(p, record(), '{"prompt": "hi", "respon'),
        ":2:",
        "not valid JSON",
    ),
    (
        "invalid UTF-8",
        lambda p: jsonl_lines(p, record(), b'{"prompt": "caf\xe9", "responses": []}'),
        ":2:",
        "not valid UTF-8 (byte 0xe9",
    ),
    ("a JSON array line", lambda p: jsonl_lines(p, "[1, 2]"), ":1:", "expected a JSON object, got list"),
    (
        "missing prompt",
        lambda p: jsonl_lines(p, json.dumps({"responses": two()})),
        ":1: prompt:",
        "is missing",
    ),
    (
        "a single response",
        lambda p: jsonl_lines(p, record(responses=two()[:1])),
        ":1: responses:",
        "two or more responses",
    ),
    (
        "empty content",
        lambda p: jsonl_lines(p, record(responses=two(content_b=""))),
        ":1: responses[1].content:",
        "is empty",
    ),
    (
        "whitespace content",
        lambda p: jsonl_lines(p, record(responses=two(content_a=" \n\t"))),
        ":1: responses[0].content:",
        "is empty",
    ),
    (
        "prompt ends with assistant",
        lambda p: jsonl_lines(
            p, record(prompt=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])
        ),
        ":1: prompt:",
        "must end with the user turn",
    ),
    (
        "system not first",
        lambda p: jsonl_lines(
            p,
            record(
                prompt=[
                    {"role": "user", "content": "hi"},
                    {"role": "system", "content": "be nice"},
                    {"role": "user", "content": "?"},
                ]
            ),
        ),
        ":1: prompt[1].role:",
        "system message may only come first",
    ),
    (
        "unknown role",
        lambda p: jsonl_lines(p, record(prompt=[{"role": "developer", "content": "x"}])),
        ":1: prompt[0].role:",
        "unknown role 'developer'",
    ),
    (
        "non-string content",
        lambda p: jsonl_lines(p, record(responses=two(content_a=42))),
        ":1: responses[0].content:",
        "must be a string, got int",
    ),
    (
        "non-text part",
        lambda p: jsonl_lines(
            p, record(prompt=[{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}])
        ),
        ":1: prompt[0].content[0]:",
        "only text parts",
    ),
    (
        "duplicate id, different content",
        lambda p: jsonl_lines(p, record(), record(prompt="Another question")),
        ":2: id:",
        "duplicate id 'g1' with different content",
    ),
    (
        "responses not a list",
        lambda p: jsonl_lines(p, record(responses={"a": "x"})),
        ":1: responses:",
        "must be a list",
    ),
    (
        "model missing",
        lambda p: jsonl_lines(p, record(responses=[{"content": "x"}, {"model": "b", "content": "y"}])),
        ":1: responses[0].model:",
        "is missing",
    ),
    (
        "metadata not an object",
        lambda p: jsonl_lines(p, record(metadata=["x"])),
        ":1: metadata:",
        "must be an object",
    ),
    (
        "identical responses",
        lambda p: jsonl_lines(p, record(responses=two("Same.", "Same."))),
        ":1: responses[1]:",
        "same content",
    ),
    (
        "id of a wrong type",
        lambda p: jsonl_lines(p, record(id={"x": 1})),
        ":1: id:",
        "must be a string or an integer",
    ),
    (
        "TRL mixed formats",
        lambda p: jsonl_lines(
            p,
            json.dumps({"prompt": "hi", "chosen": "a", "rejected": [{"role": "assistant", "content": "b"}]}),
        ),
        ":1: rejected:",
        "same format as chosen",
    ),
    (
        "TRL two assistant messages",
        lambda p: jsonl_lines(
            p,
            json.dumps(
                {
                    "prompt": [{"role": "user", "content": "hi"}],
                    "chosen": [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}],
                    "rejected": [{"role": "assistant", "content": "c"}],
                }
            ),
        ),
        ":1: chosen:",
        "exactly one assistant message",
    ),
    (
        "arena unknown winner",
        lambda p: jsonl_lines(
            p,
            json.dumps(
                {
                    "model_a": "x",
                    "model_b": "y",
                    "winner": "model_c",
                    "conversation_a": [
                        {"role": "user", "content": "q"},
                        {"role": "assistant", "content": "a"},
                    ],
                    "conversation_b": [
                        {"role": "user", "content": "q"},
                        {"role": "assistant", "content": "b"},
                    ],
                }
            ),
        ),
        ":1: winner:",
        "unknown value 'model_c'",
    ),
    (
        "unknown format",
        lambda p: jsonl_lines(p, json.dumps({"question": "hi", "answer": "x"})),
        ":1:",
        "cannot tell the format",
    ),
    (
        "bad line 57 of 60",
        lambda p: jsonl_lines(
            p,
            *[record(id=f"r{n}") if n != 57 else record(id="r57", responses=two()[:1]) for n in range(1, 61)],
        ),
        ":57: responses:",
        "two or more responses",
    ),
]


@pytest.mark.parametrize(("case", "write", "where", "message"), CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_malformed_jsonl_is_refused_and_nothing_is_stored(
    store: Store, tmp_path: Path, case: str, write: Any, where: str, message: str
) -> None:
    path = write(tmp_path / "bad.jsonl")
    with pytest.raises(ImportRejected) as rejected:
        import_files(store, [path])
    text = str(rejected.value)
    assert f"{path}{where}" in text
    assert message in text
    assert text.endswith("Nothing was imported.")
    assert counts(store) == (0, 0, 0, 0)


def test_a_failed_import_leaves_earlier_data_untouched(store: Store, tmp_path: Path) -> None:
    import_files(store, [write_jsonl(tmp_path / "good.jsonl", [GOOD])])
    before = counts(store)
    bad = jsonl_lines(tmp_path / "bad.jsonl", record(id="new", prompt="New?"), record(id="x", responses=[]))
    with pytest.raises(ImportRejected):
        import_files(store, [bad])
    assert counts(store) == before


def test_an_error_in_the_second_file_stores_nothing_from_the_first(store: Store, tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "one.jsonl", [GOOD])
    second = jsonl_lines(tmp_path / "two.jsonl", "{oops")
    with pytest.raises(ImportRejected, match="two.jsonl:1"):
        import_files(store, [first, second])
    assert counts(store) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        (["prompt", "response_a"], [["hi", "x"]], "missing column 'response_b' for the pairs format"),
        (["prompt", "response_a", "response_b"], [["hi", "x"]], "has 2 cells but the header has 3 columns"),
        (["prompt", "response_a", "response_b"], [["hi", "x", ""]], "response_b: is missing"),
    ],
)
def test_malformed_csv_is_refused(
    store: Store, tmp_path: Path, header: list[str], rows: list[list[str]], message: str
) -> None:
    path = write_csv(tmp_path / "bad.csv", header, rows)
    with pytest.raises(ImportRejected, match=message):
        import_files(store, [path])
    assert counts(store) == (0, 0, 0, 0)


def test_missing_files_and_unknown_types_are_named(store: Store, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImportRejected) as rejected:
        import_files(store, [tmp_path / "absent.jsonl", tmp_path / "notes.txt"])
    assert "absent.jsonl: no such file" in str(rejected.value)
    assert "notes.txt: unsupported file type '.txt'" in str(rejected.value)


def test_many_problems_are_listed_up_to_twenty(store: Store, tmp_path: Path) -> None:
    path = jsonl_lines(tmp_path / "bad.jsonl", *["{" for _ in range(25)])
    with pytest.raises(ImportRejected) as rejected:
        import_files(store, [path])
    assert len(rejected.value.problems) == 20
    assert "... and 5 more problem(s)" in str(rejected.value)


# --- valid edge cases ---------------------------------------------------------------------------


def stored_item(store: Store, item_id: str) -> tuple[Any, dict[str, Any]]:
    with store.cursor() as cur:
        item = catalog.get_item(cur, item_id)
        ids = [
            r[0]
            for r in cur.execute(
                "SELECT id FROM responses WHERE item_id = ? ORDER BY model", [item_id]
            ).fetchall()
        ]
        responses = catalog.get_responses(cur, ids)
    assert item is not None
    return item, {r.model: r.content for r in responses.values()}


def test_unicode_large_markdown_and_multi_turn_round_trip(store: Store, tmp_path: Path) -> None:
    big = "Línea — 中文 — 😀 — مرحبا — e\u0301\n" * 30_000  # about 1 MB
    code = "Try:\n\n```python\nprint('<b>hi</b>')\n```\n\n- one\n- **two**"
    prompt = [
        {"role": "system", "content": "Réponds en français."},
        {"role": "user", "content": "Bonjour 👋"},
        {"role": "assistant", "content": "Bonjour ! Comment puis-je aider ?"},
        {"role": "user", "content": "مرحبا — שלום"},
    ]
    path = write_jsonl(tmp_path / "edge.jsonl", [{"id": "u", "prompt": prompt, "responses": two(big, code)}])
    import_files(store, [path], dataset="edge")
    item, contents = stored_item(store, "edge/u")
    assert [m.to_dict() for m in item.prompt] == prompt
    assert contents == {"a": big, "b": code}
    assert len(big.encode()) > 1_000_000


def test_string_prompts_and_text_parts(store: Store, tmp_path: Path) -> None:
    parts = [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"id": "s", "prompt": "Just a question", "responses": two()},
            {"id": "t", "prompt": [{"role": "user", "content": parts}], "responses": two()},
        ],
    )
    import_files(store, [path], dataset="d")
    assert [m.to_dict() for m in stored_item(store, "d/s")[0].prompt] == [
        {"role": "user", "content": "Just a question"}
    ]
    assert stored_item(store, "d/t")[0].prompt[0].content == "Hello there"


@pytest.mark.parametrize(("responses", "pairs"), [(3, 3), (4, 6)])
def test_n_responses_make_every_pair(store: Store, tmp_path: Path, responses: int, pairs: int) -> None:
    entries = [{"model": f"m{n}", "content": f"answer {n}"} for n in range(responses)]
    report = import_files(store, [write_jsonl(tmp_path / "n.jsonl", [{"prompt": "q", "responses": entries}])])
    assert (report.responses_added, report.pairs_added) == (responses, pairs)


def test_csv_pairs_with_a_system_column(store: Store, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "pairs.csv",
        ["id", "system", "prompt", "response_a", "response_b", "model_a", "model_b", "channel"],
        [["c1", "Be brief.", "Refund?", "Yes, within 14 days.", "No.", "v1", "v2", "email"]],
    )
    report = import_files(store, [path], dataset="csv")
    assert report.pairs_added == 1
    item, contents = stored_item(store, "csv/c1")
    assert [m.role.value for m in item.prompt] == ["system", "user"]
    assert item.metadata == {"channel": "email"}
    assert contents == {"v1": "Yes, within 14 days.", "v2": "No."}


def test_json_array_and_parquet_files(store: Store, tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps([GOOD]), encoding="utf-8")
    table = pa.Table.from_pylist(
        [
            {
                "id": "pq1",
                "prompt": [{"role": "system", "content": "sys"}, {"role": "user", "content": "q"}],
                "responses": [{"model": "a", "content": "x"}, {"model": "b", "content": "y"}],
            }
        ]
    )
    pq.write_table(table, tmp_path / "b.parquet")
    report = import_files(store, [tmp_path / "a.json", tmp_path / "b.parquet"], dataset="files")
    assert (report.items_added, report.pairs_added) == (2, 2)
    assert [m.role.value for m in stored_item(store, "files/pq1")[0].prompt] == ["system", "user"]


def test_parquet_problems_name_the_row(store: Store, tmp_path: Path) -> None:
    pq.write_table(
        pa.Table.from_pylist(
            [
                {"prompt": "q", "response_a": "x", "response_b": "y"},
                {"prompt": "q2", "response_a": "x", "response_b": "x"},
            ]
        ),
        tmp_path / "p.parquet",
    )
    with pytest.raises(ImportRejected, match=r"p\.parquet \(row 2\): response_b: has the same content"):
        import_files(store, [tmp_path / "p.parquet"])


def source_preferred(store: Store) -> tuple[str | None, str]:
    with store.cursor() as cur:
        metadata, chosen = cur.execute(
            "SELECT p.metadata, r.id FROM pairs p JOIN responses r ON r.item_id = p.item_id AND r.model LIKE '%chosen'"
        ).fetchone()
    return json.loads(metadata).get("source_preferred_id"), chosen


TRL_ROWS = {
    "standard explicit": ({"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}, "The sky is"),
    "conversational explicit": (
        {
            "prompt": [{"role": "user", "content": "Sky colour?"}],
            "chosen": [{"role": "assistant", "content": "Blue."}],
            "rejected": [{"role": "assistant", "content": "Green."}],
        },
        "Sky colour?",
    ),
    "conversational implicit": (
        {
            "chosen": [{"role": "user", "content": "Sky colour?"}, {"role": "assistant", "content": "Blue."}],
            "rejected": [
                {"role": "user", "content": "Sky colour?"},
                {"role": "assistant", "content": "Green."},
            ],
        },
        "Sky colour?",
    ),
    "standard implicit": ({"chosen": "The sky is blue.", "rejected": "The sky is green."}, "The sky is"),
}


@pytest.mark.parametrize("case", list(TRL_ROWS))
def test_trl_rows_keep_the_prompt_and_the_source_label(store: Store, tmp_path: Path, case: str) -> None:
    row, prompt_text = TRL_ROWS[case]
    import_files(store, [write_jsonl(tmp_path / "trl.jsonl", [row])], dataset="trl")
    with store.cursor() as cur:
        (prompt,) = cur.execute("SELECT prompt FROM items").fetchone()
    assert [m.content for m in messages_from_json(prompt)] == [prompt_text]
    preferred, chosen = source_preferred(store)
    assert preferred == chosen


def conversation(question: str, answer: str, earlier: tuple[str, str] | None = None) -> list[dict[str, str]]:
    turns = (
        [{"role": "user", "content": earlier[0]}, {"role": "assistant", "content": earlier[1]}]
        if earlier
        else []
    )
    return turns + [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def battle(winner: str, a: list[dict[str, str]], b: list[dict[str, str]], qid: str = "q1") -> dict[str, Any]:
    return {
        "question_id": qid,
        "model_a": "m-a",
        "model_b": "m-b",
        "winner": winner,
        "conversation_a": a,
        "conversation_b": b,
        "judge": "arena_user",
        "language": "English",
    }


def test_arena_battles(store: Store, tmp_path: Path) -> None:
    rows = [
        battle("model_b", conversation("Hi?", "Hello."), conversation("Hi?", "Hey there!")),
        battle(
            "tie",
            conversation("Next?", "A", ("Hi?", "Same")),
            conversation("Next?", "B", ("Hi?", "Same")),
            "q2",
        ),
        battle(
            "tie (bothbad)",
            conversation("More?", "X", ("Start", "one")),
            conversation("More?", "Y", ("Start", "two")),
            "q3",
        ),
        battle("model_a", conversation("Same?", "Yes."), conversation("Same?", "Yes."), "q4"),
    ]
    report = import_files(store, [write_jsonl(tmp_path / "arena.jsonl", rows)], dataset="arena")
    assert report.pairs_added == 3
    assert report.skipped == {"both models gave the same answer": 1}
    with store.cursor() as cur:
        found = {
            json.loads(prompt)[-1]["content"]: json.loads(metadata)
            for prompt, metadata in cur.execute(
                "SELECT i.prompt, p.metadata FROM pairs p JOIN items i ON i.id = p.item_id"
            ).fetchall()
        }
        winner = cur.execute("SELECT id FROM responses WHERE content = 'Hey there!'").fetchone()[0]
    assert found["Hi?"]["source_preferred_id"] == winner
    assert found["Next?"]["source_verdict"] == "tie" and found["Next?"]["turns_used"] == "all"
    assert found["Start"]["source_verdict"] == "both_bad" and found["Start"]["turns_used"] == "first"


# --- idempotency ---------------------------------------------------------------------------------


def test_importing_the_same_file_twice_adds_nothing(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [GOOD, {**GOOD, "id": "g2", "prompt": "Other?"}])
    first = import_files(store, [path])
    before = counts(store)
    second = import_files(store, [path])
    assert first.added_anything and not second.added_anything
    assert counts(store) == before
    assert second.items_already_stored == 2


def test_a_new_response_for_a_stored_item_adds_just_it_and_its_pairs(store: Store, tmp_path: Path) -> None:
    import_files(store, [write_jsonl(tmp_path / "a.jsonl", [GOOD])], dataset="d")
    grown = {**GOOD, "responses": [*GOOD["responses"], {"model": "c", "content": "Tomorrow."}]}
    report = import_files(store, [write_jsonl(tmp_path / "b.jsonl", [grown])], dataset="d")
    assert (report.items_added, report.responses_added, report.pairs_added) == (0, 1, 2)
    assert counts(store)[:3] == (1, 3, 3)


def test_the_same_id_with_another_prompt_is_refused(store: Store, tmp_path: Path) -> None:
    import_files(store, [write_jsonl(tmp_path / "a.jsonl", [GOOD])], dataset="d")
    path = write_jsonl(tmp_path / "b.jsonl", [{**GOOD, "prompt": "Changed?"}])
    with pytest.raises(
        ImportRejected, match=r"b\.jsonl:1: prompt: item 'd/g1' is already stored with a different prompt"
    ):
        import_files(store, [path], dataset="d")


def test_identical_repeated_lines_are_counted_not_refused(store: Store, tmp_path: Path) -> None:
    report = import_files(store, [jsonl_lines(tmp_path / "a.jsonl", record(), record())])
    assert (report.items_added, report.duplicate_records) == (1, 1)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (GOOD, "responses"),
        ({"prompt": "q", "response_a": "x", "response_b": "y"}, "pairs"),
        ({"prompt": "q", "chosen": "x", "rejected": "y"}, "trl"),
        (battle("model_a", conversation("q", "x"), conversation("q", "y")), "arena"),
    ],
)
def test_the_format_is_detected(store: Store, tmp_path: Path, row: dict[str, Any], expected: str) -> None:
    report = import_files(store, [write_jsonl(tmp_path / "x.jsonl", [row])])
    assert report.sources[0]["format"] == expected
    assert report.pairs_added == 1


TOOL_PROMPT = [
    {"role": "system", "content": "You can look up orders."},
    {"role": "user", "content": "Where is order 42?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "find_order", "arguments": '{"order": 42}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_a", "content": '{"status": "shipped"}'},
    {"role": "user", "content": "And when does it arrive?"},
]


def test_tool_calls_in_the_prompt_are_kept(store: Store, tmp_path: Path) -> None:
    trl_style = [  # TRL's shape: dict arguments, no ids, tool results named
        {"role": "user", "content": "Weather in Porto?"},
        {
            "role": "assistant",
            "tool_calls": [
                {"type": "function", "function": {"name": "weather", "arguments": {"city": "Porto"}}}
            ],
        },
        {"role": "tool", "name": "weather", "content": "22°C"},
    ]
    path = write_jsonl(
        tmp_path / "tools.jsonl",
        [
            {"id": "oa", "prompt": TOOL_PROMPT, "responses": two()},
            {"id": "trl", "prompt": trl_style, "responses": two()},
        ],
    )
    import_files(store, [path], dataset="t")
    openai_item, _ = stored_item(store, "t/oa")
    call = openai_item.prompt[2].tool_calls[0]
    assert (call.id, call.name, call.arguments) == ("call_a", "find_order", {"order": 42})
    assert (openai_item.prompt[3].tool_call_id, openai_item.prompt[3].name) == ("call_a", "find_order")
    trl_item, _ = stored_item(store, "t/trl")
    assert trl_item.prompt[-1].role.value == "tool"  # a prompt may end with the tool result to answer
    assert (trl_item.prompt[1].tool_calls[0].id, trl_item.prompt[2].tool_call_id) == ("call_0", "call_0")


@pytest.mark.parametrize(
    ("prompt", "where", "message"),
    [
        (
            [{"role": "user", "content": "q"}, {"role": "tool", "tool_call_id": "x", "content": "r"}],
            "prompt[1]",
            "answers no earlier tool call ('x')",
        ),
        (
            [{"role": "user", "content": "q"}, {"role": "tool", "content": "r"}],
            "prompt[1]",
            "a tool turn needs the tool_call_id",
        ),
        (
            [
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{oops"}}],
                },
                {"role": "user", "content": "?"},
            ],
            "prompt[1].tool_calls[0].function.arguments",
            "is not valid JSON",
        ),
        (
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "tool_calls": [{"type": "function", "function": {"arguments": "{}"}}]},
                {"role": "user", "content": "?"},
            ],
            "prompt[1].tool_calls[0].function.name",
            "must be a string, got null",
        ),
    ],
)
def test_broken_tool_turns_are_refused(
    store: Store, tmp_path: Path, prompt: list[dict[str, Any]], where: str, message: str
) -> None:
    path = jsonl_lines(tmp_path / "bad.jsonl", record(prompt=prompt))
    with pytest.raises(ImportRejected) as rejected:
        import_files(store, [path])
    assert f"bad.jsonl:1: {where}: {message}" in str(rejected.value)
    assert counts(store) == (0, 0, 0, 0)


def test_a_tool_call_as_the_answer_is_refused_for_now(store: Store, tmp_path: Path) -> None:
    row = {
        "prompt": [{"role": "user", "content": "q"}],
        "rejected": [{"role": "assistant", "content": "no"}],
        "chosen": [
            {
                "role": "assistant",
                "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {}}}],
            }
        ],
    }
    with pytest.raises(ImportRejected, match="chosen: an answer that is a tool call is not supported yet"):
        import_files(store, [write_jsonl(tmp_path / "t.jsonl", [row])])
