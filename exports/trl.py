"""Record builders for Hugging Face TRL datasets (trl 1.x), one function per dataset type.

>>> from labeling.models import Message, Role
>>> example = PreferenceExample("p", "i", "g", (Message(Role.USER, "Hi?"),), "Hello!", "No.", "a", "b", 1, 1)
>>> record = dpo_record(example)
>>> record["prompt"], record["chosen"]
([{'role': 'user', 'content': 'Hi?'}], [{'role': 'assistant', 'content': 'Hello!'}])
>>> dpo_record(example, standard=True)
{'prompt': 'Hi?', 'chosen': ' Hello!', 'rejected': ' No.'}
>>> sft_record(Target("i", "g", example.prompt, "Hello!", "a", "preference", 1.0))["messages"][-1]
{'role': 'assistant', 'content': 'Hello!'}
"""

from __future__ import annotations

from typing import Any

from exports.select import LabelledResponse, PreferenceExample, Target
from labeling.models import Message, Role

_SPEAKER = {Role.SYSTEM: "System", Role.USER: "User", Role.ASSISTANT: "Assistant", Role.TOOL: "Tool"}


def assistant(content: str) -> dict[str, str]:
    return {"role": "assistant", "content": content}


def trl_message(message: Message) -> dict[str, Any]:
    """TRL's tool-calling shape: call arguments as objects (chat templates `tojson` them), tool
    results named by `name`."""
    if not message.tool_calls and message.tool_call_id is None and message.name is None:
        return {"role": message.role.value, "content": message.content}  # a plain turn (most are)
    data = message.to_dict()
    data.pop("tool_call_id", None)
    for call in data.get("tool_calls", ()):
        call.pop("id", None)
    return data


def chat(prompt: tuple[Message, ...]) -> list[dict[str, Any]]:
    return [trl_message(m) for m in prompt]


def transcript(prompt: tuple[Message, ...]) -> str:
    """A prompt as plain text for TRL's standard (string) format: a lone user turn as it is,
    anything longer as a `User:`/`Assistant:` transcript ending with `Assistant:`."""
    if len(prompt) == 1 and prompt[0].role is Role.USER:
        return prompt[0].content
    turns = [
        f"{_SPEAKER[m.role]}: {m.content}"
        + "".join(f"\n[call {c.name}({c.arguments_json})]" for c in m.tool_calls)
        for m in prompt
    ]
    return "\n\n".join([*turns, "Assistant:"])


def completion_text(content: str) -> str:
    """A standard-format completion starts with a space, so prompt and answer tokens don't merge."""
    return content if content.startswith((" ", "\n")) else " " + content


def dpo_record(example: PreferenceExample, *, standard: bool = False) -> dict[str, Any]:
    """Preference with an explicit prompt: conversational (one assistant message per side), or
    plain strings with `standard=True`."""
    if standard:
        return {
            "prompt": transcript(example.prompt),
            "chosen": completion_text(example.chosen),
            "rejected": completion_text(example.rejected),
        }
    return {
        "prompt": chat(example.prompt),
        "chosen": [assistant(example.chosen)],
        "rejected": [assistant(example.rejected)],
    }


def reward_record(example: PreferenceExample, *, with_margin: bool = False) -> dict[str, Any]:
    """Preference with an implicit prompt (what RewardTrainer recommends): two whole chats that
    share the prompt and differ in the last assistant message; `margin` (RewardTrainer's optional
    column) from the annotators' strength, when every exported pair has one."""
    record: dict[str, Any] = {
        "chosen": [*chat(example.prompt), assistant(example.chosen)],
        "rejected": [*chat(example.prompt), assistant(example.rejected)],
    }
    if with_margin:
        record["margin"] = example.margin
    return record


def sft_record(target: Target, *, prompt_completion: bool = False) -> dict[str, Any]:
    """Language modeling (`messages`), or prompt-completion so that the loss is on the answer only."""
    if prompt_completion:
        return {"prompt": chat(target.prompt), "completion": [assistant(target.answer)]}
    return {"messages": [*chat(target.prompt), assistant(target.answer)]}


def kto_record(response: LabelledResponse) -> dict[str, Any]:
    """Unpaired preference: one completion and a real boolean label."""
    return {
        "prompt": chat(response.prompt),
        "completion": [assistant(response.completion)],
        "label": response.label,
    }
