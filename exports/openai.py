"""Record builders for the OpenAI fine-tuning API (FineTuneChatRequestInput and
FineTunePreferenceRequestInput). Only documented keys are written.

>>> from labeling.models import Message, Role, json_text
>>> example = PreferenceExample("p", "i", "g", (Message(Role.USER, "Hi?"),), "Hello!", "No.", "a", "b", 1, 1)
>>> record = dpo_record(example)
>>> record["input"], record["non_preferred_output"]
({'messages': [{'role': 'user', 'content': 'Hi?'}]}, [{'role': 'assistant', 'content': 'No.'}])
>>> sft_record(Target("i", "g", example.prompt, "Hello!", "a", "preference", 1.0))
{'messages': [{'role': 'user', 'content': 'Hi?'}, {'role': 'assistant', 'content': 'Hello!', 'weight': 1}]}
"""

from __future__ import annotations

from typing import Any

from exports.select import PreferenceExample, Target
from exports.trl import assistant
from labeling.models import Message, Role, json_text


def openai_message(message: Message) -> dict[str, Any]:
    """The OpenAI shape: call arguments as a JSON string, calls with ids, tool results with
    `tool_call_id` (no `name`), and `content: null` on a call-only assistant turn."""
    if not message.tool_calls and message.tool_call_id is None:
        return {"role": message.role.value, "content": message.content}  # a plain turn (most are)
    data = message.to_dict()
    data.pop("name", None)
    for call in data.get("tool_calls", ()):
        call["function"]["arguments"] = json_text(call["function"]["arguments"])
    if message.tool_calls and not message.content:
        data["content"] = None
    return data


def chat(prompt: tuple[Message, ...]) -> list[dict[str, Any]]:
    return [openai_message(m) for m in prompt]


def dpo_record(example: PreferenceExample) -> dict[str, Any]:
    """Preference line: `input.messages` ends with the user turn; one assistant message per side."""
    return {
        "input": {"messages": chat(example.prompt)},
        "preferred_output": [assistant(example.chosen)],
        "non_preferred_output": [assistant(example.rejected)],
    }


def sft_record(target: Target) -> dict[str, Any]:
    """Chat line: earlier assistant turns are context (`weight: 0`), the chosen answer is trained
    (`weight: 1`). OpenAI trains every assistant message by default, hence the explicit zeros."""
    messages: list[dict[str, Any]] = []
    for message in target.prompt:
        entry = openai_message(message)
        if message.role is Role.ASSISTANT:
            entry["weight"] = 0
        messages.append(entry)
    return {"messages": [*messages, {**assistant(target.answer), "weight": 1}]}
