"""Exports: golden records per kind and target, selection rules, self-checks, manifest and card."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from exports.registry import FORMATS
from exports.run import ExportOptions, run_export
from exports.select import SelectionPolicy, aggregate
from labeling.clock import utc_now
from labeling.errors import ExportError, JudgmentError
from labeling.ingest import import_files
from labeling.judgments import record_pair_judgment, undo_last
from store.db import Store
from tests.conftest import write_jsonl

GOLDEN = Path(__file__).parent.parent / "data" / "golden"

RECORDS = [
    {  # multi-turn with a system prompt: two annotators agree on the first response
        "id": "multi",
        "prompt": [
            {"role": "system", "content": "You are Northwind's support agent. Be brief."},
            {"role": "user", "content": "My ebook won't open."},
            {"role": "assistant", "content": "Which device?"},
            {"role": "user", "content": "Kobo Clara — ça ne marche pas 😕"},
        ],
        "responses": [
            {"model": "v1", "content": "Re-download the EPUB:\n\n1. Open *My books*\n2. Tap **Download**"},
            {"model": "v2", "content": "Kobo is not supported."},
        ],
    },
    {
        "id": "tie",
        "prompt": "Can I pause my subscription?",
        "responses": [
            {"model": "v1", "content": "Yes, for up to 3 months."},
            {"model": "v2", "content": "Yes, in Settings."},
        ],
    },
    {
        "id": "bad",
        "prompt": "Refund my order",
        "responses": [
            {"model": "v1", "content": "No."},
            {"model": "v2", "content": "Refunds are impossible."},
        ],
    },
    {
        "id": "split",
        "prompt": "Is the API rate limited?",
        "responses": [
            {"model": "v1", "content": "Yes: 100 requests/minute."},
            {"model": "v2", "content": '```json\n{"limit": 100}\n```'},
        ],
    },
    {
        "id": "undone",
        "prompt": "Change my email address",
        "responses": [
            {"model": "v1", "content": "Go to Account > Email."},
            {"model": "v2", "content": "Email us."},
        ],
    },
    {
        "id": "majority",
        "prompt": "Where do I find royalty statements?",
        "responses": [
            {"model": "v1", "content": "Author Portal > Statements."},
            {"model": "v2", "content": "We post them."},
        ],
    },
]


def _pairs(store: Store) -> dict[str, tuple[str, str, str]]:
    """item source id -> (pair id, response of v1, response of v2)."""
    with store.cursor() as cur:
        rows = cur.execute(
            "SELECT i.source_id, p.id, r1.id, r2.id FROM pairs p JOIN items i ON i.id = p.item_id "
            "JOIN responses r1 ON r1.item_id = i.id AND r1.model = 'v1' "
            "JOIN responses r2 ON r2.item_id = i.id AND r2.model = 'v2'"
        ).fetchall()
    return {source: (pair, v1, v2) for source, pair, v1, v2 in rows}


@pytest.fixture
def judged_store(store: Store, tmp_path: Path) -> Store:
    import_files(store, [write_jsonl(tmp_path / "golden.jsonl", RECORDS)], dataset="golden")
    pairs = _pairs(store)
    counter = iter(range(1000))

    def judge(annotator: str, source: str, preferred: str, *, v1_left: bool = True) -> None:
        pair, v1, v2 = pairs[source]
        left, right = (v1, v2) if v1_left else (v2, v1)
        verdict = {"v1": "left" if v1_left else "right", "v2": "right" if v1_left else "left"}.get(
            preferred, preferred
        )
        record_pair_judgment(
            store,
            client_id=f"judgment-{next(counter):04d}",
            annotator=annotator,
            pair_id=pair,
            left_id=left,
            right_id=right,
            verdict=verdict,
            now=utc_now,
        )

    judge("ana", "multi", "v1")
    judge("bob", "multi", "v1", v1_left=False)  # same preference, other side
    judge("ana", "tie", "tie")
    judge("ana", "bad", "both_bad")
    judge("bob", "bad", "both_bad")
    judge("ana", "split", "v1")
    judge("bob", "split", "v2")
    judge("ana", "undone", "v1")
    undo_last(store, annotator="ana", client_id="undo-00001", now=utc_now)
    judge("ana", "majority", "v2")
    judge("bob", "majority", "v1")
    judge("cem", "majority", "v1", v1_left=False)
    return store


# Every record export of the registry, with each format flag it has: (kind, target, flags, golden file).
VARIANTS = [
    (f.kind, f.target, flags, golden)
    for f in FORMATS
    if f.builder is not None and f.golden is not None
    for flags, golden in [({}, f.golden), *(({flag: True}, name) for flag, name in f.variants.items())]
]


@pytest.mark.parametrize(("kind", "target", "flags", "golden_file"), VARIANTS, ids=[v[3] for v in VARIANTS])
def test_records_match_the_golden_files(
    judged_store: Store, tmp_path: Path, kind: str, target: str, flags: dict[str, bool], golden_file: str
) -> None:
    options = ExportOptions(**flags, all_items=kind == "evals")  # an eval set of every judged item
    run_export(judged_store, tmp_path, kind=kind, target=target, options=options, now=utc_now)
    written = (tmp_path / f"{kind}_{target}.jsonl").read_text(encoding="utf-8")
    golden = GOLDEN / golden_file
    if os.environ.get("PREFDESK_UPDATE_GOLDEN"):
        golden.write_text(written, encoding="utf-8")
    assert written == golden.read_text(encoding="utf-8")


def test_trl_records_follow_the_conversational_preference_rules(judged_store: Store, tmp_path: Path) -> None:
    run_export(judged_store, tmp_path, kind="dpo", target="trl", now=utc_now)
    for line in (tmp_path / "dpo_trl.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        assert set(record) == {"prompt", "chosen", "rejected"}
        assert record["prompt"][-1]["role"] == "user"
        assert all(m["role"] != "system" for m in record["prompt"][1:])
        assert (
            [m["role"] for m in record["chosen"]] == ["assistant"] == [m["role"] for m in record["rejected"]]
        )
        assert record["chosen"] != record["rejected"]


def test_openai_records_have_only_the_documented_keys(judged_store: Store, tmp_path: Path) -> None:
    manifest = run_export(judged_store, tmp_path, kind="dpo", target="openai", now=utc_now)
    for line in (tmp_path / "dpo_openai.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        assert set(record) == {"input", "preferred_output", "non_preferred_output"}
        assert set(record["input"]) == {"messages"}
        assert len(record["preferred_output"]) == len(record["non_preferred_output"]) == 1
    assert manifest["warnings"] == ["OpenAI fine-tuning needs at least 10 examples; the training file has 2"]


def test_the_manifest_counts_every_judged_pair_once(judged_store: Store, tmp_path: Path) -> None:
    manifest = run_export(judged_store, tmp_path, kind="dpo", target="trl", now=utc_now)
    assert manifest["records"] == 2
    assert manifest["skipped"] == {
        "tie": 1,
        "both_bad": 1,
        "annotators_disagree": 1,
        "below_min_agreement": 0,
        "undone": 1,
    }
    skipped_judged = sum(v for k, v in manifest["skipped"].items() if k != "undone")
    assert manifest["records"] + skipped_judged == manifest["pairs_judged"] == 5
    assert manifest["agreement"] == {
        "pairs_with_several_votes": 4,  # multi (agree), bad (agree), split (1-1), majority (2-1)
        "unanimous_share": 0.5,
        "mean_top_verdict_share": round((1 + 1 + 0.5 + 2 / 3) / 4, 4),
    }
    assert manifest["judgments"]["pair_judgments_logged"] == 11
    assert manifest["judgments"]["pair_judgments_undone"] == 1
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    with judged_store.cursor() as cur:
        assert cur.execute("SELECT kind, target FROM exports").fetchall() == [("dpo", "trl")]


def test_the_majority_picks_the_response_two_of_three_preferred(judged_store: Store, tmp_path: Path) -> None:
    run_export(judged_store, tmp_path, kind="dpo", target="trl", now=utc_now)
    records = [json.loads(line) for line in (tmp_path / "dpo_trl.jsonl").read_text().splitlines()]
    majority = next(r for r in records if "royalty" in r["prompt"][-1]["content"])
    assert majority["chosen"][0]["content"] == "Author Portal > Statements."


def test_the_judgment_hash_changes_when_a_judgment_changes(judged_store: Store, tmp_path: Path) -> None:
    before = run_export(judged_store, tmp_path / "a", kind="dpo", target="trl", now=utc_now)["judgments"][
        "judgments_sha256"
    ]
    undo_last(judged_store, annotator="cem", client_id="undo-00002", now=utc_now)
    after = run_export(judged_store, tmp_path / "b", kind="dpo", target="trl", now=utc_now)["judgments"][
        "judgments_sha256"
    ]
    assert before != after


@pytest.mark.parametrize(
    ("votes", "policy", "expected"),
    [
        (("r1",), SelectionPolicy(), ("r1", None)),
        (("r1", "r1", "r2"), SelectionPolicy(), ("r1", None)),
        (("r1", "r2"), SelectionPolicy(), (None, "annotators_disagree")),
        (("r1", "tie"), SelectionPolicy(), (None, "annotators_disagree")),
        (("tie", "tie", "r1"), SelectionPolicy(), ("tie", None)),
        (("both_bad",), SelectionPolicy(), ("both_bad", None)),
        (("r1", "r1", "r2"), SelectionPolicy(aggregate="unanimous"), (None, "annotators_disagree")),
        (("r1", "r1", "r1"), SelectionPolicy(aggregate="unanimous"), ("r1", None)),
        (("r1", "r1", "r2"), SelectionPolicy(min_agreement=0.7), (None, "below_min_agreement")),
        (("r1", "r1", "r2"), SelectionPolicy(min_agreement=0.66), ("r1", None)),
    ],
)
def test_aggregate(
    votes: tuple[str, ...], policy: SelectionPolicy, expected: tuple[str | None, str | None]
) -> None:
    assert aggregate(votes, policy) == expected


def test_an_unwritable_folder_is_a_clear_error(judged_store: Store, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="cannot create the output folder"):
        run_export(judged_store, blocker / "out", kind="dpo", target="trl", now=utc_now)


def test_an_empty_store_is_refused_unless_an_empty_export_is_asked_for(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"dpo trl would write 0 records: the store holds no items"):
        run_export(store, tmp_path / "refused", kind="dpo", target="trl", now=utc_now)
    assert not (tmp_path / "refused").exists()
    manifest = run_export(
        store,
        tmp_path / "empty",
        kind="dpo",
        target="trl",
        options=ExportOptions(allow_empty=True),
        now=utc_now,
    )
    assert manifest["records"] == 0
    assert (tmp_path / "empty" / "dpo_trl.jsonl").read_text() == ""
    assert manifest["warnings"] == [
        "this export has 0 records (written anyway, --allow-empty): the store holds no items: import some "
        "(`prefdesk import`) and judge them (`prefdesk serve`)",
        "its files hold no rows: datasets.load_dataset cannot read this folder (it learns the columns from "
        "the rows); export again once there are records",
    ]


def read_records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_sft_has_one_target_per_prompt_and_openai_weights_only_the_answer(
    judged_store: Store, tmp_path: Path
) -> None:
    manifest = run_export(judged_store, tmp_path, kind="sft", target="openai", now=utc_now)
    records = read_records(tmp_path / "sft_openai.jsonl")
    assert manifest["counts"]["items_with_a_target"] == len(records) == 2
    multi = next(r for r in records if len(r["messages"]) > 2)  # type: ignore[arg-type]
    weights = [(m["role"], m.get("weight")) for m in multi["messages"]]  # type: ignore[union-attr]
    assert weights == [("system", None), ("user", None), ("assistant", 0), ("user", None), ("assistant", 1)]


def test_kto_labels_are_booleans_and_both_bad_can_become_negatives(
    judged_store: Store, tmp_path: Path
) -> None:
    dropped = run_export(judged_store, tmp_path / "a", kind="kto", target="trl", now=utc_now)
    assert {type(r["label"]) for r in read_records(tmp_path / "a" / "kto_trl.jsonl")} == {bool}
    assert (dropped["counts"]["desirable"], dropped["counts"]["undesirable"]) == (2, 2)
    kept = run_export(
        judged_store,
        tmp_path / "b",
        kind="kto",
        target="trl",
        options=ExportOptions(policy=SelectionPolicy(both_bad="kto")),
        now=utc_now,
    )
    assert (kept["counts"]["desirable"], kept["counts"]["undesirable"]) == (2, 4)
    negatives = [r for r in read_records(tmp_path / "b" / "kto_trl.jsonl") if "Refund" in str(r["prompt"])]
    assert [r["label"] for r in negatives] == [False, False]


def test_unanimous_and_min_agreement_drop_contested_pairs(judged_store: Store, tmp_path: Path) -> None:
    unanimous = run_export(
        judged_store,
        tmp_path / "u",
        kind="dpo",
        target="trl",
        options=ExportOptions(policy=SelectionPolicy(aggregate="unanimous")),
        now=utc_now,
    )
    assert unanimous["records"] == 1 and unanimous["skipped"]["annotators_disagree"] == 2
    strict = run_export(
        judged_store,
        tmp_path / "m",
        kind="dpo",
        target="trl",
        options=ExportOptions(policy=SelectionPolicy(min_agreement=0.9)),
        now=utc_now,
    )
    assert strict["records"] == 1 and strict["skipped"]["below_min_agreement"] == 1


@pytest.mark.parametrize(
    ("kind", "target", "options", "message"),
    [
        ("kto", "openai", ExportOptions(), "kto exports to trl, not 'openai'"),
        ("dpo", "openai", ExportOptions(standard=True), "--standard applies to dpo --target trl only"),
        (
            "dpo",
            "trl",
            ExportOptions(policy=SelectionPolicy(both_bad="kto")),
            "--both-bad kto applies to kto",
        ),
        ("rlhf", "trl", ExportOptions(), "unknown export kind 'rlhf'"),
        ("dpo", "trl", ExportOptions(all_items=True), "--all-items applies to evals exports only"),
        (
            "evals",
            "promptfoo",
            ExportOptions(all_items=True, allow_eval_overlap=True),
            "--allow-eval-overlap applies to training exports",
        ),
        ("judgments", "csv", ExportOptions(eval_fraction=0.2), "--eval-fraction do not apply to it"),
        ("judgments", "csv", ExportOptions(parquet=True), "takes --target parquet, not --parquet"),
    ],
)
def test_impossible_combinations_are_refused(
    judged_store: Store, tmp_path: Path, kind: str, target: str, options: ExportOptions, message: str
) -> None:
    with pytest.raises(ExportError, match=message):
        run_export(judged_store, tmp_path / "out", kind=kind, target=target, options=options, now=utc_now)
    assert not (tmp_path / "out").exists()


def test_the_dataset_card_names_the_file_for_load_dataset(judged_store: Store, tmp_path: Path) -> None:
    run_export(judged_store, tmp_path, kind="sft", target="trl", now=utc_now)
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert card.startswith(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: sft_trl.jsonl\n---"
    )


def test_an_eval_set_registers_its_items_and_training_exports_keep_them_out(
    judged_store: Store, tmp_path: Path
) -> None:
    evals = run_export(
        judged_store,
        tmp_path / "evals",
        kind="evals",
        target="promptfoo",
        options=ExportOptions(all_items=True),
        now=utc_now,
    )
    assert evals["files"] == {"eval": "evals_promptfoo.jsonl"}
    assert (
        "  - split: eval\n    path: evals_promptfoo.jsonl" in (tmp_path / "evals" / "README.md").read_text()
    )
    # Both decided items (multi, majority) are eval items now: a DPO file would be empty.
    with pytest.raises(ExportError, match="all 2 record\\(s\\) are of items kept out as eval items"):
        run_export(judged_store, tmp_path / "dpo", kind="dpo", target="trl", now=utc_now)
    assert not (tmp_path / "dpo").exists()
    training = run_export(
        judged_store,
        tmp_path / "dpo",
        kind="dpo",
        target="trl",
        options=ExportOptions(allow_empty=True),
        now=utc_now,
    )
    assert training["records"] == 0
    assert training["split"]["records_excluded_as_eval_items"] == 2


def test_openai_eval_lines_share_one_item_shape(judged_store: Store, tmp_path: Path) -> None:
    options = ExportOptions(all_items=True)
    run_export(judged_store, tmp_path, kind="evals", target="openai-evals", options=options, now=utc_now)
    shapes = {tuple(r["item"]) for r in read_records(tmp_path / "evals_openai-evals.jsonl")}  # type: ignore[arg-type]
    assert shapes == {("item_id", "messages", "question", "reference", "rejected")}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (ExportOptions(), "an eval set needs its items chosen: --eval-fraction F registers a sample"),
        (ExportOptions(all_items=True, eval_fraction=0.2), "--all-items and --eval-fraction choose"),
    ],
)
def test_an_eval_set_needs_one_way_of_choosing_its_items(
    judged_store: Store, tmp_path: Path, options: ExportOptions, message: str
) -> None:
    with pytest.raises(ExportError, match=message):
        run_export(judged_store, tmp_path / "x", kind="evals", target="oaieval", options=options, now=utc_now)
    assert not (tmp_path / "x").exists()
    with judged_store.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM eval_registry").fetchone() == (0,)


def test_pairs_from_the_ranking_of_three_responses(store: Store, tmp_path: Path) -> None:
    record = {
        "id": "three",
        "prompt": "Best refund answer?",
        "responses": [
            {"model": "a", "content": "Refunded in full today."},
            {"model": "b", "content": "Refunds take 14 days."},
            {"model": "c", "content": "No refunds."},
        ],
    }
    import_files(store, [write_jsonl(tmp_path / "three.jsonl", [record])], dataset="r")
    with store.cursor() as cur:
        ids = dict(cur.execute("SELECT model, id FROM responses").fetchall())
        pairs = cur.execute("SELECT id, response_a_id, response_b_id FROM pairs").fetchall()
    rank = {ids["a"]: 0, ids["b"]: 1, ids["c"]: 2}
    for n, (pair_id, x, y) in enumerate(pairs):
        record_pair_judgment(
            store,
            client_id=f"judgment-r{n:03d}",
            annotator="ana",
            pair_id=pair_id,
            left_id=x,
            right_id=y,
            verdict="left" if rank[x] < rank[y] else "right",
            now=utc_now,
        )
    chosen_rejected = {}
    for mode in ("all", "best-worst", "adjacent"):
        options = ExportOptions(policy=SelectionPolicy(pairs=mode))
        run_export(store, tmp_path / mode, kind="dpo", target="trl", options=options, now=utc_now)
        chosen_rejected[mode] = sorted(
            (r["chosen"][0]["content"], r["rejected"][0]["content"])  # type: ignore[index]
            for r in read_records(tmp_path / mode / "dpo_trl.jsonl")
        )
    assert len(chosen_rejected["all"]) == 3
    assert chosen_rejected["best-worst"] == [("Refunded in full today.", "No refunds.")]
    assert chosen_rejected["adjacent"] == [
        ("Refunded in full today.", "Refunds take 14 days."),
        ("Refunds take 14 days.", "No refunds."),
    ]


def test_max_tokens_drops_long_records_with_a_local_tokenizer(judged_store: Store, tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = {"[UNK]": 0}
    core = Tokenizer(models.WordLevel(vocab=words, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.save(str(tmp_path / "tokenizer.json"))
    everything = run_export(
        judged_store,
        tmp_path / "all",
        kind="dpo",
        target="trl",
        options=ExportOptions(max_tokens=1000, tokenizer=tmp_path),
        now=utc_now,
    )
    assert everything["records"] == 2 and everything["limits"]["over_max_tokens"] == 0
    # The multi-turn record has four prompt messages (4 x 4 framing tokens alone); the other one.
    short = run_export(
        judged_store,
        tmp_path / "short",
        kind="dpo",
        target="trl",
        options=ExportOptions(max_tokens=30, tokenizer=tmp_path / "tokenizer.json"),
        now=utc_now,
    )
    assert short["records"] == 1 and short["limits"]["over_max_tokens"] == 1
    assert short["limits"]["tokenizer"].endswith("tokenizer.json")
    assert "royalty" in (tmp_path / "short" / "dpo_trl.jsonl").read_text()


def test_max_tokens_without_a_vocabulary_says_what_to_do(
    judged_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tiktoken

    def offline(name: str) -> None:
        raise ConnectionError("no network")

    monkeypatch.setattr(tiktoken, "get_encoding", offline)
    with pytest.raises(ExportError, match="pass --tokenizer DIR"):
        run_export(
            judged_store,
            tmp_path / "x",
            kind="sft",
            target="openai",
            options=ExportOptions(max_tokens=50),
            now=utc_now,
        )
    with pytest.raises(ExportError, match="no tokenizer.json"):
        run_export(
            judged_store,
            tmp_path / "y",
            kind="sft",
            target="openai",
            options=ExportOptions(max_tokens=50, tokenizer=tmp_path / "missing"),
            now=utc_now,
        )


def test_parquet_holds_the_same_records_as_jsonl(judged_store: Store, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    run_export(judged_store, tmp_path / "j", kind="kto", target="trl", now=utc_now)
    manifest = run_export(
        judged_store,
        tmp_path / "p",
        kind="kto",
        target="trl",
        options=ExportOptions(parquet=True),
        now=utc_now,
    )
    assert manifest["files"] == {"train": "kto_trl.parquet"}
    assert pq.read_table(tmp_path / "p" / "kto_trl.parquet").to_pylist() == read_records(
        tmp_path / "j" / "kto_trl.jsonl"
    )
    assert "path: kto_trl.parquet" in (tmp_path / "p" / "README.md").read_text()
    with pytest.raises(ExportError, match="--parquet applies to TRL targets"):
        run_export(
            judged_store,
            tmp_path / "o",
            kind="sft",
            target="openai",
            options=ExportOptions(parquet=True),
            now=utc_now,
        )


def test_promptfoo_tests_as_yaml(judged_store: Store, tmp_path: Path) -> None:
    import yaml

    run_export(
        judged_store,
        tmp_path / "j",
        kind="evals",
        target="promptfoo",
        options=ExportOptions(all_items=True),
        now=utc_now,
    )
    manifest = run_export(
        judged_store,
        tmp_path / "y",
        kind="evals",
        target="promptfoo",
        options=ExportOptions(yaml=True, all_items=True),
        now=utc_now,
    )
    assert manifest["files"] == {"eval": "evals_promptfoo.yaml"}
    tests = yaml.safe_load((tmp_path / "y" / "evals_promptfoo.yaml").read_text(encoding="utf-8"))
    assert tests == read_records(tmp_path / "j" / "evals_promptfoo.jsonl")
    card = (tmp_path / "y" / "README.md").read_text()
    assert card.startswith("# evals export") and "configs:" not in card  # nothing for load_dataset


def test_tool_calls_take_each_targets_shape(store: Store, tmp_path: Path) -> None:
    from tests.unit.test_ingest import TOOL_PROMPT

    record = {
        "id": "tools",
        "prompt": TOOL_PROMPT,
        "responses": [
            {"model": "a", "content": "It arrives on Friday."},
            {"model": "b", "content": "No idea."},
        ],
    }
    import_files(store, [write_jsonl(tmp_path / "t.jsonl", [record])], dataset="t")
    with store.cursor() as cur:
        pair_id, a, b = cur.execute("SELECT id, response_a_id, response_b_id FROM pairs").fetchone()
        better = cur.execute("SELECT id FROM responses WHERE model = 'a'").fetchone()[0]
    record_pair_judgment(
        store,
        client_id="judgment-tool",
        annotator="ana",
        pair_id=pair_id,
        left_id=a,
        right_id=b,
        verdict="left" if a == better else "right",
        now=utc_now,
    )
    for target in ("trl", "openai"):
        run_export(store, tmp_path / target, kind="sft", target=target, now=utc_now)
    (openai_line,) = read_records(tmp_path / "openai" / "sft_openai.jsonl")
    (trl_line,) = read_records(tmp_path / "trl" / "sft_trl.jsonl")
    openai_call, trl_call = openai_line["messages"][2], trl_line["messages"][2]  # type: ignore[index]
    assert openai_call == {
        "role": "assistant",
        "content": None,
        "weight": 0,
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "find_order", "arguments": '{"order":42}'},
            }
        ],
    }
    assert trl_call == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"type": "function", "function": {"name": "find_order", "arguments": {"order": 42}}}],
    }
    assert openai_line["messages"][3] == {
        "role": "tool",
        "content": '{"status": "shipped"}',
        "tool_call_id": "call_a",
    }  # type: ignore[index]
    assert trl_line["messages"][3] == {
        "role": "tool",
        "content": '{"status": "shipped"}',
        "name": "find_order",
    }  # type: ignore[index]


def test_reward_margin_comes_from_strength_when_every_pair_has_one(
    seeded_store: Store, tmp_path: Path
) -> None:
    from labeling.desk import Desk, ShownPair

    desk = Desk(seeded_store)
    strengths = iter([1, 3, 2, 2, 3, 1])
    while (showing := desk.next_showing("ana")) is not None:
        desk.submit("ana", ShownPair.of(showing), "left", strength=next(strengths))
    manifest = run_export(seeded_store, tmp_path / "m", kind="reward", target="trl", now=utc_now)
    margins = sorted(r["margin"] for r in read_records(tmp_path / "m" / "reward_trl.jsonl"))  # type: ignore[type-var]
    assert margins == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0] and manifest["counts"]["margin_column"] == 1
    showing = desk.show_again(desk.undo("ana"))  # judged again without a strength
    desk.submit("ana", ShownPair.of(showing), "left")
    without = run_export(seeded_store, tmp_path / "n", kind="reward", target="trl", now=utc_now)
    assert without["counts"]["margin_column"] == 0
    assert all("margin" not in r for r in read_records(tmp_path / "n" / "reward_trl.jsonl"))


def test_strength_is_for_a_preference_only(seeded_store: Store) -> None:
    from labeling.desk import Desk, ShownPair

    desk = Desk(seeded_store)
    showing = desk.next_showing("ana")
    assert showing is not None
    for verdict, strength in (("tie", 2), ("left", 5)):
        with pytest.raises(JudgmentError, match="strength is 1, 2 or 3"):
            desk.submit("ana", ShownPair.of(showing), verdict, strength=strength)


def test_a_dataset_filter_exports_only_that_dataset(judged_store: Store, tmp_path: Path) -> None:
    import_files(judged_store, [write_jsonl(tmp_path / "other.jsonl", [RECORDS[0]])], dataset="other")
    with judged_store.cursor() as cur:
        pair_id, a, b = cur.execute(
            "SELECT p.id, p.response_a_id, p.response_b_id FROM pairs p JOIN items i ON i.id = p.item_id "
            "WHERE i.dataset = 'other'"
        ).fetchone()
    record_pair_judgment(
        judged_store,
        client_id="judgment-other",
        annotator="ana",
        pair_id=pair_id,
        left_id=a,
        right_id=b,
        verdict="left",
        now=utc_now,
    )
    everything = run_export(judged_store, tmp_path / "all", kind="dpo", target="trl", now=utc_now)
    only = run_export(
        judged_store,
        tmp_path / "one",
        kind="dpo",
        target="trl",
        options=ExportOptions(datasets=("other",)),
        now=utc_now,
    )
    assert (everything["records"], only["records"]) == (3, 1)
    assert only["filters"] == {"datasets": ["other"]} and everything["filters"] == {"datasets": "all"}


@pytest.mark.parametrize(
    ("umask", "file_mode", "folder_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)]
)
def test_export_files_and_folders_follow_the_umask(
    judged_store: Store, tmp_path: Path, umask: int, file_mode: int, folder_mode: int
) -> None:
    exports = [
        ("dpo", "trl", ExportOptions(eval_fraction=0.5, seed=1)),  # streamed JSONL, two splits
        ("kto", "trl", ExportOptions(parquet=True, allow_eval_overlap=True)),  # one Parquet file
        ("evals", "promptfoo", ExportOptions(yaml=True, all_items=True)),  # one YAML file
        ("judgments", "csv", ExportOptions()),
    ]
    previous = os.umask(umask)
    try:
        for kind, target, options in exports:
            run_export(
                judged_store, tmp_path / kind / "out", kind=kind, target=target, options=options, now=utc_now
            )
    finally:
        os.umask(previous)
    for kind, _, _ in exports:
        made = tmp_path / kind / "out"
        assert {folder.stat().st_mode & 0o777 for folder in (made, made.parent)} == {folder_mode}
        files = {path.name: path.stat().st_mode & 0o777 for path in made.iterdir()}
        assert len(files) >= 3 and "manifest.json" in files and "README.md" in files
        assert files == dict.fromkeys(files, file_mode), kind


def test_an_export_the_store_cannot_record_leaves_no_files(
    judged_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from store import registry
    from store.errors import StoreWriteError

    def disk_full(*args: object, **kwargs: object) -> None:
        raise StoreWriteError("could not write to the store: disk full; nothing was written")

    monkeypatch.setattr(registry, "record_export", disk_full)
    options = ExportOptions(eval_fraction=0.5, seed=1)  # would register eval items and training items
    with pytest.raises(StoreWriteError, match="disk full"):
        run_export(judged_store, tmp_path / "out", kind="dpo", target="trl", options=options, now=utc_now)
    assert not (tmp_path / "out").exists()
    with judged_store.cursor() as cur:
        for table in ("exports", "eval_registry", "export_training_items"):
            assert cur.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table


def _word_tokenizer(folder: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers

    core = Tokenizer(models.WordLevel(vocab={"[UNK]": 0}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.save(str(folder / "tokenizer.json"))
    return folder / "tokenizer.json"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            "every pair skipped",
            "all 3 judged pair(s) were skipped: tie 1, both_bad 1, annotators_disagree 1 (a tie holds no "
            "preference to train on; a pair judged both bad holds none either; a split vote needs another "
            "annotator's judgment to decide it)",
        ),
        ("too long", "all 2 record(s) are longer than --max-tokens 1: raise --max-tokens"),
        ("eval split took all", "the eval split took all 2 record(s)"),
        (
            "a dataset without judgments",
            "no pair of dataset(s) 'other' has a judgment in force (datasets: 'golden' (5 judged pair(s)), "
            "'other' (0 judged pair(s)))",
        ),
        (
            "every judgment undone",
            "every judgment of dataset(s) 'u' was undone (1 pair(s) judged, then undone)",
        ),
    ],
)
def test_an_empty_export_says_which_stage_emptied_it(
    judged_store: Store, tmp_path: Path, case: str, message: str
) -> None:
    options = ExportOptions()
    if case == "every pair skipped":  # only the tie, both-bad and split-vote items
        options = ExportOptions(datasets=("three",))
        keep = [r for r in RECORDS if r["id"] in ("tie", "bad", "split")]
        import_files(judged_store, [write_jsonl(tmp_path / "three.jsonl", keep)], dataset="three")
        with judged_store.cursor() as cur:
            rows = cur.execute(
                "SELECT i.source_id, p.id, p.response_a_id, p.response_b_id FROM pairs p "
                "JOIN items i ON i.id = p.item_id WHERE i.dataset = 'three'"
            ).fetchall()
        votes = {
            "tie": [("ana", "tie")],
            "bad": [("ana", "both_bad")],
            "split": [("ana", "left"), ("bob", "right")],
        }
        for source, pair_id, a, b in rows:
            for annotator, verdict in votes[source]:
                record_pair_judgment(
                    judged_store,
                    client_id=f"judgment-{source}-{annotator}",
                    annotator=annotator,
                    pair_id=pair_id,
                    left_id=a,
                    right_id=b,
                    verdict=verdict,
                    now=utc_now,
                )
    elif case == "too long":
        options = ExportOptions(max_tokens=1, tokenizer=_word_tokenizer(tmp_path))
    elif case == "eval split took all":  # two decided items, each its own cluster: 0.9 takes both
        options = ExportOptions(eval_fraction=0.9)
    elif case == "a dataset without judgments":
        import_files(judged_store, [write_jsonl(tmp_path / "other.jsonl", [RECORDS[0]])], dataset="other")
        options = ExportOptions(datasets=("other",))
    else:
        import_files(judged_store, [write_jsonl(tmp_path / "u.jsonl", [RECORDS[1]])], dataset="u")
        with judged_store.cursor() as cur:
            pair_id, a, b = cur.execute(
                "SELECT p.id, p.response_a_id, p.response_b_id FROM pairs p JOIN items i ON i.id = p.item_id "
                "WHERE i.dataset = 'u'"
            ).fetchone()
        record_pair_judgment(
            judged_store,
            client_id="judgment-u-dan",
            annotator="dan",
            pair_id=pair_id,
            left_id=a,
            right_id=b,
            verdict="left",
            now=utc_now,
        )
        undo_last(judged_store, annotator="dan", client_id="undo-u-dan", now=utc_now)
        options = ExportOptions(datasets=("u",))
    with judged_store.cursor() as cur:
        before = cur.execute("SELECT count(*) FROM exports").fetchone()
    with pytest.raises(ExportError) as refused:
        run_export(judged_store, tmp_path / "out", kind="dpo", target="trl", options=options, now=utc_now)
    assert message in str(refused.value)
    assert str(refused.value).endswith("Nothing was written; --allow-empty writes it anyway")
    assert not (tmp_path / "out").exists()
    with judged_store.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM exports").fetchone() == before


@pytest.mark.parametrize("kind", ["dpo", "judgments"])
def test_a_dataset_filter_counts_and_hashes_only_that_datasets_judgments(
    judged_store: Store, tmp_path: Path, kind: str
) -> None:
    """The golden dataset has an undone pair and 11 judgments; 'other' has one judgment in force:
    the manifest of `--dataset other` speaks of that one judgment only."""
    import_files(judged_store, [write_jsonl(tmp_path / "other.jsonl", [RECORDS[0]])], dataset="other")
    pair_id, a, b = _pairs_of(judged_store, "other")
    record_pair_judgment(
        judged_store,
        client_id="judgment-other",
        annotator="ana",
        pair_id=pair_id,
        left_id=a,
        right_id=b,
        verdict="left",
        now=utc_now,
    )
    with judged_store.cursor() as cur:
        (judgment_id,) = cur.execute("SELECT id FROM judgments WHERE pair_id = ?", [pair_id]).fetchone()
    target = "trl" if kind == "dpo" else "jsonl"
    manifest = run_export(
        judged_store,
        tmp_path / "one",
        kind=kind,
        target=target,
        options=ExportOptions(datasets=("other",)),
        now=utc_now,
    )
    assert manifest["judgments"] == {
        "pair_judgments_logged": 1,
        "pair_judgments_in_force": 1,
        "pair_judgments_undone": 0,
        "pairs_with_every_judgment_undone": 0,
        "judgments_sha256": hashlib.sha256(f"{judgment_id}:left".encode()).hexdigest(),
    }
    if kind == "dpo":
        assert manifest["skipped"]["undone"] == 0
    everything = run_export(judged_store, tmp_path / "all", kind=kind, target=target, now=utc_now)
    assert everything["judgments"]["pair_judgments_logged"] == 12  # 11 golden + 1 other
    assert everything["judgments"]["pairs_with_every_judgment_undone"] == 1


def _pairs_of(store: Store, dataset: str) -> tuple[str, str, str]:
    with store.cursor() as cur:
        row = cur.execute(
            "SELECT p.id, p.response_a_id, p.response_b_id FROM pairs p JOIN items i ON i.id = p.item_id "
            "WHERE i.dataset = ?",
            [dataset],
        ).fetchone()
    assert row is not None
    return row
