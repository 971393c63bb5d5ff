"""Each dataset's wording: set by a file's header, import flags or `datasets set`; shown with
each of its pairs; neutral by default; bad wording refused with the place it came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from labeling.clock import utc_now
from labeling.demo import prepare_demo
from labeling.desk import Desk, ShownPair
from labeling.errors import BadUserInput, ImportRejected
from labeling.ingest import import_files
from labeling.models import Wording
from labeling.wording import list_datasets, set_wording
from store.db import Store
from tests.conftest import write_jsonl

SUPPORT = {"question": "Which reply answers the customer better?", "user_label": "Customer"}


def record(n: int, prompt: str = "Where is my order?") -> dict[str, Any]:
    return {
        "id": f"t-{n}",
        "prompt": f"{prompt} ({n})",
        "responses": [{"model": "a", "content": f"Shipped {n}."}, {"model": "b", "content": f"Soon {n}."}],
    }


def jsonl(path: Path, *lines: object) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def shown_wordings(store: Store) -> dict[str, Wording]:
    """What the Compare screen would ask, per dataset, judging every pair once."""
    desk = Desk(store)
    seen: dict[str, Wording] = {}
    while (showing := desk.next_showing("ana")) is not None:
        assert seen.setdefault(showing.item.dataset, showing.wording) == showing.wording
        desk.submit("ana", ShownPair.of(showing), "tie")
    return seen


def wording_rows(store: Store) -> list[tuple[Any, ...]]:
    with store.cursor() as cur:
        return cur.execute(
            "SELECT dataset, question, user_label, assistant_label, system_label FROM dataset_wording ORDER BY seq"
        ).fetchall()


def test_a_dataset_is_asked_neutrally_unless_it_says_otherwise(store: Store, tmp_path: Path) -> None:
    import_files(store, [jsonl(tmp_path / "plain.jsonl", record(1))], dataset="plain")
    assert shown_wordings(store) == {
        "plain": Wording("Which response is better?", "User", "Assistant", "System prompt")
    }
    assert wording_rows(store) == []


def test_a_jsonl_header_sets_the_wording_and_is_not_a_record(store: Store, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "support.jsonl", {"prefdesk_dataset": SUPPORT}, record(1), record(2))
    report = import_files(store, [path], dataset="support")
    assert (report.records, report.items_added) == (2, 2)
    assert report.wording == Wording(SUPPORT["question"], "Customer")
    assert shown_wordings(store) == {"support": Wording(SUPPORT["question"], "Customer")}


def test_a_json_file_carries_its_header_beside_the_records(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "legal.json"
    path.write_text(
        json.dumps(
            {"prefdesk_dataset": {"question": "Which answer is more accurate?"}, "records": [record(1)]}
        )
    )
    report = import_files(store, [path], dataset="legal")
    assert report.items_added == 1
    assert shown_wordings(store)["legal"].question == "Which answer is more accurate?"


def test_flags_win_over_the_header_and_only_changes_are_kept(store: Store, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "support.jsonl", {"prefdesk_dataset": SUPPORT}, record(1))
    import_files(store, [path], dataset="support", wording={"assistant_label": "Agent"})
    import_files(store, [path], dataset="support", wording={"assistant_label": "Agent"})  # same again
    assert wording_rows(store) == [("support", SUPPORT["question"], "Customer", "Agent", None)]
    again = import_files(store, [path], dataset="support", wording={"question": "Which reply is kinder?"})
    # Fields not given keep their value (the assistant label set by the first import's flag).
    assert again.added_anything is False and again.wording == Wording(
        "Which reply is kinder?", "Customer", "Agent"
    )
    assert wording_rows(store)[-1] == ("support", "Which reply is kinder?", "Customer", "Agent", None)


def test_mixed_datasets_each_show_their_own_question(store: Store, tmp_path: Path) -> None:
    import_files(
        store, [jsonl(tmp_path / "a.jsonl", {"prefdesk_dataset": SUPPORT}, record(1))], dataset="support"
    )
    import_files(store, [jsonl(tmp_path / "b.jsonl", record(2, "Translate"))], dataset="translate")
    questions = {name: wording.question for name, wording in shown_wordings(store).items()}
    assert questions == {"support": SUPPORT["question"], "translate": "Which response is better?"}


def test_the_demo_asks_about_the_customer(store: Store) -> None:
    prepare_demo(store, utc_now)
    showing = Desk(store).next_showing("demo")
    assert showing is not None
    assert showing.wording == Wording(SUPPORT["question"], "Customer", "Support agent")


def header_file(
    tmp_path: Path, header: object, *, first: bool = True, extra: dict[str, Any] | None = None
) -> Path:
    line = {"prefdesk_dataset": header, **(extra or {})}
    lines = [line, record(1)] if first else [record(1), line]
    return jsonl(tmp_path / "bad.jsonl", *lines)


# (case, file writer, expected `location: field: message`)
BAD_HEADERS: list[tuple[str, Any, str]] = [
    (
        "not the first line",
        lambda p: header_file(p, SUPPORT, first=False),
        ":2: prefdesk_dataset: a dataset header must be the first line of the file",
    ),
    (
        "beside record fields",
        lambda p: header_file(p, SUPPORT, extra={"id": "x"}),
        ':1: prefdesk_dataset: the dataset header holds only "prefdesk_dataset" (also found: id)',
    ),
    (
        "not an object",
        lambda p: header_file(p, ["Which?"]),
        ":1: prefdesk_dataset: must be an object, got a list",
    ),
    (
        "an unknown field",
        lambda p: header_file(p, {"questoin": "Which?"}),
        ":1: prefdesk_dataset.questoin: unknown field (use question, user_label, assistant_label, system_label)",
    ),
    (
        "a question too long",
        lambda p: header_file(p, {"question": "Which " * 40}),
        ":1: prefdesk_dataset.question: is 239 characters long (at most 200)",
    ),
    (
        "a label on two lines",
        lambda p: header_file(p, {"user_label": "Cus\ntomer"}),
        ":1: prefdesk_dataset.user_label: must be one line of plain text",
    ),
    (
        "a number for a label",
        lambda p: header_file(p, {"assistant_label": 7}),
        ":1: prefdesk_dataset.assistant_label: must be a string, got int",
    ),
    (
        "a blank question",
        lambda p: header_file(p, {"question": "   "}),
        ':1: prefdesk_dataset.question: is blank (use "" to go back to the default)',
    ),
]


@pytest.mark.parametrize(("case", "write", "expected"), BAD_HEADERS, ids=[c[0] for c in BAD_HEADERS])
def test_a_bad_header_is_refused_where_it_is_and_nothing_is_stored(
    store: Store, tmp_path: Path, case: str, write: Any, expected: str
) -> None:
    path = write(tmp_path)
    with pytest.raises(ImportRejected) as rejected:
        import_files(store, [path], dataset="support")
    assert f"{path}{expected}" in str(rejected.value)
    assert list_datasets(store) == [] and wording_rows(store) == []


def test_headers_of_one_import_must_agree(store: Store, tmp_path: Path) -> None:
    first = jsonl(tmp_path / "one.jsonl", {"prefdesk_dataset": SUPPORT}, record(1))
    second = jsonl(tmp_path / "two.jsonl", {"prefdesk_dataset": {"question": "Other?"}}, record(2))
    with pytest.raises(ImportRejected) as rejected:
        import_files(store, [first, second], dataset="support")
    assert f"{second}:1: prefdesk_dataset: differs from the dataset header of {first}" in str(rejected.value)


def test_a_header_inside_a_json_array_is_refused(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"prefdesk_dataset": SUPPORT}, record(1)]))
    with pytest.raises(ImportRejected) as rejected:
        import_files(store, [path], dataset="support")
    assert f"{path} (record 1): prefdesk_dataset: a dataset header is not a record" in str(rejected.value)


def test_a_bad_flag_is_refused_before_anything_is_read(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ImportRejected) as rejected:
        import_files(store, [jsonl(tmp_path / "a.jsonl", record(1))], wording={"user_label": "x" * 41})
    assert str(rejected.value).startswith("--user-label: is 41 characters long (at most 40)")
    assert list_datasets(store) == []


def test_set_changes_only_the_fields_given_and_empty_means_the_default(store: Store, tmp_path: Path) -> None:
    import_files(
        store, [jsonl(tmp_path / "s.jsonl", {"prefdesk_dataset": SUPPORT}, record(1))], dataset="support"
    )
    assert set_wording(store, "support", {"system_label": "Policy"}, set_by="test", now=utc_now) == Wording(
        SUPPORT["question"], "Customer", "Assistant", "Policy"
    )
    assert set_wording(store, "support", {"user_label": ""}, set_by="test", now=utc_now) == Wording(
        SUPPORT["question"], "User", "Assistant", "Policy"
    )
    (info,) = list_datasets(store)
    assert (info.name, info.items, info.pairs) == ("support", 1, 1)
    assert info.chosen == {
        "question": SUPPORT["question"],
        "user_label": None,
        "assistant_label": None,
        "system_label": "Policy",
    }
    assert len(wording_rows(store)) == 3  # the header's, then one per change: history is kept


def test_a_desk_shows_a_new_wording_with_the_next_pair(store: Store, tmp_path: Path) -> None:
    import_files(store, [jsonl(tmp_path / "s.jsonl", record(1), record(2))], dataset="support")
    desk = Desk(store)
    first = desk.next_showing("ana")
    assert first is not None and first.wording.question == "Which response is better?"
    desk.submit("ana", ShownPair.of(first), "left")
    set_wording(store, "support", {"question": "Which reply is kinder?"}, set_by="test", now=utc_now)
    second = desk.next_showing("ana")
    assert second is not None and second.wording.question == "Which reply is kinder?"


@pytest.mark.parametrize(
    ("dataset", "change", "message"),
    [
        ("suport", {"question": "Q?"}, "no dataset 'suport' in this store (datasets: support)"),
        ("support", {}, "nothing to set: give --question, --user-label, --assistant-label or --system-label"),
        ("support", {"question": "a\u202eb"}, "--question: must be one line of plain text"),
    ],
)
def test_set_refuses_what_it_cannot_use(
    store: Store, tmp_path: Path, dataset: str, change: dict[str, str], message: str
) -> None:
    import_files(store, [write_jsonl(tmp_path / "s.jsonl", [record(1)])], dataset="support")
    with pytest.raises(BadUserInput) as refused:
        set_wording(store, dataset, change, set_by="test", now=utc_now)
    assert str(refused.value).startswith(message)
    assert wording_rows(store) == []
