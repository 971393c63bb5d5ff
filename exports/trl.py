"""Record builders for Hugging Face TRL datasets (trl 1.x).

>>> from labeling.models import Message, Role
>>> example = PreferenceExample("p", "i", "g", (Message(Role.USER, "Hi?"),), "Hello!", "No.", "a", "b", 1, 1)
>>> record = dpo_record(example)
>>> record["prompt"], record["chosen"]
([{'role': 'user', 'content': 'Hi?'}], [{'role': 'assistant', 'content': 'Hello!'}])
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
