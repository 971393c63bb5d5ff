"""With the `trl` extra: the exported DPO file passes TRL's own checks and trains, offline.

A tokenizer is built in code with the `tokenizers` library (a word-level vocabulary over the
export itself) and given a ChatML-style Jinja chat template; the model is a tiny randomly
initialised Llama. Nothing is downloaded.
"""

from __future__ import annotations

import copy
import json
import os
import random
from pathlib import Path

import pytest

pytest.importorskip("trl", reason="needs the trl extra: pip install -e '.[trl]'")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import datasets  # noqa: E402
import torch  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers, trainers  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402
from trl.data_utils import is_conversational, maybe_apply_chat_template  # noqa: E402

from exports.run import run_export  # noqa: E402
from labeling.demo import demo_dataset_path  # noqa: E402
from labeling.desk import Desk, ShownPair  # noqa: E402
from labeling.ingest import import_files, utc_now  # noqa: E402
from store.db import Store  # noqa: E402

pytestmark = pytest.mark.trl

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]


@pytest.fixture
def exported(store: Store, tmp_path: Path) -> Path:
    """The bundled demo emails, judged by two annotators with the desk's own use cases."""
    import_files(store, [demo_dataset_path()], dataset="demo")
    desk = Desk(store, rng=random.Random(3))
    for annotator in ("ana", "bob"):
        while (showing := desk.next_showing(annotator)) is not None:
            # Both prefer the longer answer: a consistent signal that survives side shuffling.
            longer_left = len(showing.left.content) >= len(showing.right.content)
            desk.submit(annotator, ShownPair.of(showing), "left" if longer_left else "right")
    manifest = run_export(store, tmp_path / "out", kind="dpo", target="trl", now=utc_now)
    assert manifest["records"] >= 50
    return tmp_path / "out" / "dpo_trl.jsonl"


def build_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    core = Tokenizer(models.WordLevel(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
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


def test_the_exported_file_passes_trls_checks_and_trains(exported: Path, tmp_path: Path) -> None:
    datasets.disable_caching()
    dataset = datasets.load_dataset("json", data_files=str(exported), split="train")
    assert set(dataset.column_names) == {"prompt", "chosen", "rejected"}
    texts = [m["content"] for row in dataset for key in ("prompt", "chosen", "rejected") for m in row[key]]
    tokenizer = build_tokenizer(texts)

    for row in dataset:
        assert is_conversational(row)
        rendered = maybe_apply_chat_template(row, tokenizer)
        assert rendered["prompt"].endswith("<|im_start|>assistant\n")  # a generation prompt
        assert rendered["chosen"] != rendered["rejected"]
        assert rendered["chosen"].endswith("<|im_end|>\n")

    torch.manual_seed(0)
    config = LlamaConfig(
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
    model = LlamaForCausalLM(config)
    args = DPOConfig(
        output_dir=str(tmp_path / "dpo"),
        per_device_train_batch_size=2,
        max_steps=3,
        max_length=256,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        learning_rate=1e-3,
        seed=0,
    )
    trainer = DPOTrainer(
        model=model,
        ref_model=copy.deepcopy(model),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    result = trainer.train()
    assert result.global_step == 3
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 3 and all(loss == loss and loss > 0 for loss in losses)  # finite, positive
    json.dumps(trainer.state.log_history)  # the metrics are plain numbers
