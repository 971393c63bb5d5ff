"""Record builders for the OpenAI fine-tuning API (FineTunePreferenceRequestInput).

>>> from labeling.models import Message, Role
>>> example = PreferenceExample("p", "i", "g", (Message(Role.USER, "Hi?"),), "Hello!", "No.", "a", "b", 1, 1)
>>> record = dpo_record(example)
>>> record["input"], record["non_preferred_output"]
({'messages': [{'role': 'user', 'content': 'Hi?'}]}, [{'role': 'assistant', 'content': 'No.'}])
"""

from __future__ import annotations

from typing import Any

from exports.select import PreferenceExample
from exports.trl import assistant


def dpo_record(example: PreferenceExample) -> dict[str, Any]:
    """Preference line: `input.messages` ends with the user turn; one assistant message per side."""
    return {
        "input": {"messages": [m.to_dict() for m in example.prompt]},
        "preferred_output": [assistant(example.chosen)],
        "non_preferred_output": [assistant(example.rejected)],
    }
