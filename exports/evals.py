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
