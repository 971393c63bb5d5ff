"""Record builders for regression eval sets: an item's prompt with its best judged answer as the
reference. Targets: the OpenAI Evals API, classic openai/evals, promptfoo.

>>> from labeling.models import Message, Role
>>> example = Target("nw/1", "g", (Message(Role.USER, "Hi?"),), "Hello!", "r1", "preference", 1.0, "No.")
>>> openai_evals_record(example)["item"]["reference"]
'Hello!'
>>> oaieval_record(example)
{'input': [{'role': 'user', 'content': 'Hi?'}], 'ideal': 'Hello!'}
>>> promptfoo_record(example)["vars"]["question"]
'Hi?'
"""

from __future__ import annotations

from typing import Any

from exports.openai import chat
from exports.select import Target
from labeling.models import Role

RUBRIC = (
    "The reply answers the customer's last message at least as well as this reference reply, "
    "without contradicting it on facts or policy.\n\nReference reply:\n{reference}"
)
OPENAI_EVALS_ITEM_KEYS = ("item_id", "messages", "question", "reference", "rejected")


def _question(example: Target) -> str:
    return next(m.content for m in reversed(example.prompt) if m.role is Role.USER)


def openai_evals_record(example: Target) -> dict[str, Any]:
    """`{"item": {...}}` with the same keys on every line, so one item_schema fits them all:
    `{{item.question}}` or `{{item.messages}}` to sample, `{{item.reference}}` for graders."""
    return {
        "item": {
            "item_id": example.item_id,
            "messages": chat(example.prompt),
            "question": _question(example),
            "reference": example.answer,
            "rejected": example.worse,
        }
    }


def oaieval_record(example: Target) -> dict[str, Any]:
    """A classic openai/evals sample: chat `input` and the `ideal` answer."""
    return {"input": chat(example.prompt), "ideal": example.answer}


# promptfoo reads a string that starts with file:// in a test case as a file to load, and runs it
# when it names a .py or .js file. Prompts and answers come from imported data and models: such a
# text must never reach a test case.
_PROMPTFOO_FILE_PREFIX = "file://"


def loads_as_a_file(value: Any) -> bool:
    """Whether promptfoo would take `value` (or a string inside it) for a file reference.

    >>> loads_as_a_file({"vars": {"question": "  FILE:///etc/passwd"}})
    True
    >>> loads_as_a_file({"vars": {"question": "see file://x inside the text"}})
    False
    """
    if isinstance(value, str):
        return value.lstrip().lower().startswith(_PROMPTFOO_FILE_PREFIX)
    if isinstance(value, dict):
        return any(loads_as_a_file(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(loads_as_a_file(v) for v in value)
    return False


def promptfoo_would_load(record: dict[str, Any]) -> bool:
    """Whether promptfoo would read a part of this test case as a file (metadata it leaves alone)."""
    return loads_as_a_file({key: value for key, value in record.items() if key != "metadata"})


def promptfoo_record(example: Target) -> dict[str, Any]:
    """A promptfoo test case: `vars` for the prompt template, an `llm-rubric` assertion against
    the reference reply, and where it came from in `metadata`."""
    return {
        "description": f"{example.item_id}: {_question(example)[:60]}",
        "vars": {"question": _question(example), "messages": chat(example.prompt)},
        "assert": [{"type": "llm-rubric", "value": RUBRIC.format(reference=example.answer)}],
        "metadata": {
            "item_id": example.item_id,
            "reference": example.answer,
            "source": example.source,
            "agreement": example.agreement,
        },
    }
