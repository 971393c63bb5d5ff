"""Record builders for Hugging Face TRL datasets (trl 1.x).

>>> from labeling.models import Message, Role
>>> dpo_record(PreferenceExample("p", "i", "g", (Message(Role.USER, "Hi?"),), "Hello!", "No.",
...                              "r1", "r2", 1, 1))
{'prompt': [{'role': 'user', 'content': 'Hi?'}], 'chosen': [{'role': 'assistant', 'content': 'Hello!'}], 'rejected': [{'role': 'assistant', 'content': 'No.'}]}
"""

from __future__ import annotations

from typing import Any

from exports.select import PreferenceExample


def assistant(content: str) -> dict[str, str]:
    return {"role": "assistant", "content": content}


def dpo_record(example: PreferenceExample) -> dict[str, Any]:
    """Conversational preference with an explicit prompt: one assistant message per side."""
    return {
        "prompt": [m.to_dict() for m in example.prompt],
        "chosen": [assistant(example.chosen)],
        "rejected": [assistant(example.rejected)],
    }
