"""Self-checks run on every record before a file is renamed into place.

Each check returns what is wrong with one record, or None. The rules come from
docs/design FORMATS.md (TRL 1.16 code, the OpenAI OpenAPI schema): a prompt ends with the user
(or tool) turn being answered and has a system message only first; each side of a preference is
one assistant message; chosen differs from rejected; `weight` only on assistant messages and only
0/1; KTO labels are booleans; every row has the same shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exports.evals import OPENAI_EVALS_ITEM_KEYS, promptfoo_would_load

ROLES = {"system", "user", "assistant", "tool"}
OPENAI_LINE_KEYS = {"messages", "tools", "parallel_tool_calls"}

Check = Callable[[dict[str, Any]], "str | None"]
_PLAIN_ROLES = frozenset({"system", "user", "assistant"})


def _plain_turns(value: Any, *, weights: bool = False) -> str | None:
    """The last turn's role if `value` is what nearly every record holds: a non-empty list of plain
    turns (role and content only, or an assistant `weight` of 0/1 when `weights`; non-blank text;
    no tool turn; a system turn only first). Such a list passes `_messages` with any options, so a
    check can skip the full walk. None means: walk it in full (it may still be fine).

    >>> _plain_turns([{"role": "user", "content": "Hi?"}])
    'user'
    >>> _plain_turns([{"role": "user", "content": " "}]) is None
    True
    """
    if type(value) is not list or not value:
        return None
    role = None
    for n, message in enumerate(value):
        if type(message) is not dict:
            return None
        role, content = message.get("role"), message.get("content")
        if len(message) != 2 and not (
            weights
            and len(message) == 3
            and role == "assistant"
            and type(weight := message.get("weight")) is int
            and weight in (0, 1)
        ):
            return None
        if (
            type(content) is not str
            or not content
            or content.isspace()
            or type(role) is not str
            or role not in _PLAIN_ROLES
            or (role == "system" and n != 0)
        ):
            return None
    return role


def _plain_answer(value: Any) -> bool:
    """Exactly one plain assistant turn: passes `_one_assistant`."""
    return type(value) is list and len(value) == 1 and _plain_turns(value) == "assistant"


def _tool_calls(message: dict[str, Any], where: str, arguments: type) -> str | None:
    for call in message["tool_calls"]:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            return f"{where} has a tool call without a function name"
        if not isinstance(function.get("arguments"), arguments):
            return f"{where} has tool-call arguments that are not a {arguments.__name__}"
        if arguments is str and not call.get("id"):
            return f"{where} has a tool call without an id"
    return None


def _messages(value: Any, name: str, *, weights: bool = False, openai: bool = False) -> str | None:
    if not isinstance(value, list) or not value:
        return f"{name} must be a non-empty list of messages"
    # Runs on every message of every record (10^6 per large export): each field read once.
    for n, message in enumerate(value):
        if not isinstance(message, dict) or (role := message.get("role")) not in ROLES:
            return f"{name}[{n}] has no valid role"
        if message.get("tool_calls"):
            problem = _tool_calls(message, f"{name}[{n}]", str if openai else dict)
            if problem:
                return problem
        elif not isinstance(content := message.get("content"), str) or not content or content.isspace():
            return f"{name}[{n}] has no text content"  # isspace: str.strip() would leave nothing
        if role == "tool" and openai and not message.get("tool_call_id"):
            return f"{name}[{n}] is a tool result without a tool_call_id"
        if role == "system" and n != 0:
            return f"{name}[{n}] is a system message that is not first"
        if "weight" in message:
            if not weights or role != "assistant":
                return f"{name}[{n}] has a weight, allowed only on assistant messages"
            if type(message["weight"]) is not int or message["weight"] not in (0, 1):
                return f"{name}[{n}] has weight {message['weight']!r}; only 0 or 1"
    return None


def _prompt(value: Any, name: str, *, openai: bool = False) -> str | None:
    problem = _messages(value, name, openai=openai)
    if problem is None and value[-1]["role"] not in ("user", "tool"):
        return f"{name} ends with a {value[-1]['role']} turn, not the user turn being answered"
    return problem


def _one_assistant(value: Any, name: str) -> str | None:
    problem = _messages(value, name)
    if problem is None and (len(value) != 1 or value[0]["role"] != "assistant"):
        return f"{name} must be exactly one assistant message"
    return problem


def _first(*problems: str | None) -> str | None:
    return next((p for p in problems if p is not None), None)


def _differ(record: dict[str, Any], a: str, b: str) -> str | None:
    return f"{a} and {b} are identical" if record[a] == record[b] else None


def trl_dpo(record: dict[str, Any]) -> str | None:
    prompt, chosen, rejected = record.get("prompt"), record.get("chosen"), record.get("rejected")
    if (
        _plain_turns(prompt) == "user"
        and _plain_answer(chosen)
        and _plain_answer(rejected)
        and chosen != rejected
    ):
        return None  # the common case, decided without the full walk below
    if isinstance(record.get("prompt"), str):
        for key in ("prompt", "chosen", "rejected"):
            if not isinstance(record.get(key), str) or not record[key].strip():
                return f"{key} must be non-empty text in the standard format"
        return _differ(record, "chosen", "rejected")
    return _first(
        _prompt(record.get("prompt"), "prompt"),
        _one_assistant(record.get("chosen"), "chosen"),
        _one_assistant(record.get("rejected"), "rejected"),
        _differ(record, "chosen", "rejected"),
    )


def trl_reward(record: dict[str, Any]) -> str | None:
    if _plain_turns(record.get("chosen")) is None or _plain_turns(record.get("rejected")) is None:
        problem = _first(
            _messages(record.get("chosen"), "chosen"), _messages(record.get("rejected"), "rejected")
        )
        if problem:
            return problem
    chosen, rejected = record["chosen"], record["rejected"]
    if chosen[:-1] != rejected[:-1] or len(chosen) < 2:
        return "chosen and rejected must share the prompt and differ only in the last message"
    if chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
        return "chosen and rejected must end with an assistant message"
    if "margin" in record and not isinstance(record["margin"], int | float):
        return f"margin must be a number, got {record['margin']!r}"
    return _differ(record, "chosen", "rejected")


def trl_sft(record: dict[str, Any]) -> str | None:
    if "messages" in record:
        if _plain_turns(record["messages"]) == "assistant":
            return None
        problem = _messages(record["messages"], "messages")
        if problem is None and record["messages"][-1]["role"] != "assistant":
            return "messages must end with the assistant answer"
        return problem
    if _plain_turns(record.get("prompt")) == "user" and _plain_answer(record.get("completion")):
        return None
    return _first(
        _prompt(record.get("prompt"), "prompt"), _one_assistant(record.get("completion"), "completion")
    )


def trl_kto(record: dict[str, Any]) -> str | None:
    if type(record.get("label")) is not bool:
        return f"label must be a boolean, got {record.get('label')!r}"
    if _plain_turns(record.get("prompt")) == "user" and _plain_answer(record.get("completion")):
        return None
    return _first(
        _prompt(record.get("prompt"), "prompt"), _one_assistant(record.get("completion"), "completion")
    )


def openai_dpo(record: dict[str, Any]) -> str | None:
    if set(record) != {"input", "preferred_output", "non_preferred_output"}:
        return f"unexpected keys {sorted(record)}"
    if not isinstance(record["input"], dict) or not set(record["input"]) <= OPENAI_LINE_KEYS:
        return "input may only hold messages, tools and parallel_tool_calls"
    preferred, other = record["preferred_output"], record["non_preferred_output"]
    if (
        _plain_turns(record["input"].get("messages")) == "user"
        and _plain_answer(preferred)
        and _plain_answer(other)
        and preferred != other
    ):
        return None
    return _first(
        _prompt(record["input"].get("messages"), "input.messages", openai=True),
        _one_assistant(record["preferred_output"], "preferred_output"),
        _one_assistant(record["non_preferred_output"], "non_preferred_output"),
        _differ(record, "preferred_output", "non_preferred_output"),
    )


def openai_sft(record: dict[str, Any]) -> str | None:
    if not set(record) <= OPENAI_LINE_KEYS or "messages" not in record:
        return f"unexpected keys {sorted(record)}"
    if _plain_turns(record["messages"], weights=True) == "assistant":
        return None
    problem = _messages(record["messages"], "messages", weights=True, openai=True)
    if problem is None and record["messages"][-1]["role"] != "assistant":
        return "messages must end with the assistant answer"
    return problem


def shape(record: dict[str, Any]) -> tuple[tuple[str, type], ...]:
    """Keys and value types: TRL decides the format from the first row, so every row must match."""
    return tuple((key, type(value)) for key, value in record.items())


def openai_evals(record: dict[str, Any]) -> str | None:
    if set(record) - {"item", "sample"} or not isinstance(record.get("item"), dict):
        return 'a line must be {"item": {...}} (and optionally "sample")'
    item = record["item"]
    if tuple(item) != OPENAI_EVALS_ITEM_KEYS:
        return (
            f"item keys {list(item)} differ from {list(OPENAI_EVALS_ITEM_KEYS)} (item_schema needs one shape)"
        )
    if _plain_turns(item["messages"]) == "user" and isinstance(item["reference"], str):
        return None if item["reference"].strip() else "item.reference is empty"
    return _first(
        _prompt(item["messages"], "item.messages", openai=True),
        None
        if isinstance(item["reference"], str) and item["reference"].strip()
        else "item.reference is empty",
    )


def oaieval(record: dict[str, Any]) -> str | None:
    if set(record) != {"input", "ideal"}:
        return f"unexpected keys {sorted(record)}"
    if not isinstance(record["ideal"], str) or not record["ideal"].strip():
        return "ideal must be non-empty text"
    if _plain_turns(record["input"]) == "user":
        return None
    return _prompt(record["input"], "input", openai=True)


def promptfoo(record: dict[str, Any]) -> str | None:
    if not isinstance(record.get("vars"), dict) or not record["vars"]:
        return "vars must be a non-empty object"
    assertions = record.get("assert")
    if not isinstance(assertions, list) or not assertions:
        return "assert must be a non-empty list"
    if any(not isinstance(a, dict) or not isinstance(a.get("type"), str) for a in assertions):
        return "every assertion needs a type"
    if "expected" in record:
        return "promptfoo has no 'expected' key: use assert"
    if promptfoo_would_load(record):
        return "a text starts with file://, which promptfoo would load as a file (and run, for .py/.js)"
    return None
