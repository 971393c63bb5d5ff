"""`--preview N`: records rendered through a chat template, so a person sees the exact training
string. A template that doesn't match the model's is the most common fine-tuning bug.

The template comes from a Jinja file (`--chat-template FILE.jinja`) or a local tokenizer folder
(`--tokenizer DIR`: `chat_template.jinja`, or `chat_template` in `tokenizer_config.json`). It is
rendered in Jinja's sandbox, as transformers does, with `raise_exception` and `tojson`.

    >>> template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}\\n{% endfor %}"
    >>> render_record({"prompt": [{"role": "user", "content": "Hi"}],
    ...                "chosen": [{"role": "assistant", "content": "Hello"}],
    ...                "rejected": [{"role": "assistant", "content": "No"}]}, template)
    [('chosen', '<user>Hi\\n<assistant>Hello\\n'), ('rejected', '<user>Hi\\n<assistant>No\\n')]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from labeling.errors import ExportError


def _raise(message: str) -> None:
    raise ExportError(f"the chat template refused a record: {message}")


def load_template(chat_template: Path | None, tokenizer: Path | None) -> str:
    if chat_template is not None:
        if not chat_template.is_file():
            raise ExportError(f"no chat template file at {chat_template}")
        return chat_template.read_text(encoding="utf-8")
    if tokenizer is not None and tokenizer.is_dir():
        if (tokenizer / "chat_template.jinja").is_file():
            return (tokenizer / "chat_template.jinja").read_text(encoding="utf-8")
        config = tokenizer / "tokenizer_config.json"
        if config.is_file():
            template = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
            if isinstance(template, list):  # named templates: take "default"
                template = next((t["template"] for t in template if t.get("name") == "default"), None)
            if isinstance(template, str):
                return template
    raise ExportError(
        "--preview needs a chat template: --chat-template FILE.jinja or --tokenizer DIR with one"
    )


def _conversations(record: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]], bool]]:
    """(label, messages, add_generation_prompt) for each text a trainer would see."""
    if "messages" in record:
        return [("messages", record["messages"], False)]
    if "input" in record:  # OpenAI preference
        prompt = record["input"]["messages"]
        return [
            ("preferred", prompt + record["preferred_output"], False),
            ("non-preferred", prompt + record["non_preferred_output"], False),
        ]
    prompt = record.get("prompt", [])
    if not isinstance(prompt, list):
        raise ExportError("--preview renders conversational records; this export is plain text (--standard)")
    if "completion" in record:
        return [
            (
                "completion" if "label" not in record else f"label={record['label']}",
                prompt + record["completion"],
                False,
            )
        ]
    return [("chosen", prompt + record["chosen"], False), ("rejected", prompt + record["rejected"], False)]


def render_record(record: dict[str, Any], template: str) -> list[tuple[str, str]]:
    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    environment.globals["raise_exception"] = _raise
    environment.filters["tojson"] = lambda value, **kw: json.dumps(value, ensure_ascii=False, **kw)
    try:
        compiled = environment.from_string(template)
        return [
            (
                label,
                compiled.render(
                    messages=messages, add_generation_prompt=generation, bos_token="", eos_token=""
                ),
            )
            for label, messages, generation in _conversations(record)
        ]
    except TemplateError as exc:
        raise ExportError(f"the chat template failed: {exc}") from exc
