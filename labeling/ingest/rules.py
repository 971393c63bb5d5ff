"""The field rules every format shares, each written once and applied to whole columns.

A rule reads one field of every record of a batch and gives the checked values, or records the
field's problem against the record: the first problem of a record is the one reported, so the
parsers (labeling/ingest/formats.py) apply the rules in the order a reader goes through a record,
and a record that already has a problem is not checked further.

    batch = Batch([{"prompt": "Hi", "id": 7}, {"prompt": " ", "id": 8}])
    batch.texts("prompt")           # ["Hi", None]
    batch.problems[1].message       # "is empty"
    batch.keys("id")                # ["7", None]: the second record is out already

Most values are of the plain kind (a string that is not blank, a message of a role and a text):
the column rules accept those with one test per value and hand anything else to the rule's full
check, which words the problem. Both are the same rule: the plain case is the rule's first branch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from labeling.models import Message, Role, ToolCall, canonical_json, json_text

T = TypeVar("T")
Stored = dict[str, Any]  # a checked message in its stored form (Message.to_dict)
_PLAIN_ROLES = frozenset({"system", "user", "assistant"})
_PLAIN_KEYS = frozenset({"role", "content"})


class FieldProblem(Exception):
    def __init__(self, field_name: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


class SkipRecord(Exception):
    """A record that is valid but carries nothing to judge (counted, not stored)."""


# --- the rules, value by value ------------------------------------------------------------


def type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def text(value: Any, name: str) -> str:
    """Message content: a non-empty string, or a list of text parts joined together."""
    if type(value) is str and value and not value.isspace():  # the plain case
        return value
    if isinstance(value, list):
        texts = []
        for number, part in enumerate(value):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise FieldProblem(f"{name}[{number}]", "only text parts are supported")
            texts.append(text(part.get("text"), f"{name}[{number}].text"))
        value = "".join(texts)
    if not isinstance(value, str):
        raise FieldProblem(name, f"must be a string, got {type_name(value)}")
    if not value.strip():
        raise FieldProblem(name, "is empty")
    return value


def key(value: Any, name: str) -> str | None:
    """An id or a group key: a string or an integer, stripped; None when absent."""
    if value is None:
        return None
    if type(value) is str:
        stripped = value.strip()
        if stripped:
            return stripped
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise FieldProblem(name, f"must be a string or an integer, got {type_name(value)}")
    stripped = str(value).strip()
    if not stripped:
        raise FieldProblem(name, "is empty")
    return stripped


def item_metadata(record: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """The record's `metadata` object plus any columns the format does not use."""
    value = record.get("metadata", {})
    if not isinstance(value, dict):
        raise FieldProblem("metadata", f"must be an object, got {type_name(value)}")
    extra = {k: v for k, v in record.items() if k not in known and k != "metadata"}
    return {**extra, **value}


def tool_calls(value: Any, where: str, number_of_calls: int) -> tuple[ToolCall, ...]:
    """OpenAI-style or TRL-style tool calls; arguments as a JSON string or an object."""
    if not isinstance(value, list) or not value:
        raise FieldProblem(where, "must be a non-empty list of tool calls")
    calls = []
    for n, raw in enumerate(value):
        here = f"{where}[{n}]"
        function = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(function, dict):
            raise FieldProblem(here, 'must be {"type": "function", "function": {"name", "arguments"}}')
        tool = text(function.get("name"), f"{here}.function.name").strip()
        arguments = function.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as exc:
                raise FieldProblem(f"{here}.function.arguments", f"is not valid JSON: {exc.msg}") from None
        if not isinstance(arguments, dict):
            raise FieldProblem(f"{here}.function.arguments", f"must be an object, got {type_name(arguments)}")
        call_id = raw.get("id") or f"call_{number_of_calls + n}"  # TRL data often has no ids
        calls.append(ToolCall(str(call_id), tool, canonical_json(arguments)))
    return tuple(calls)


def _answered_call(raw: dict[str, Any], open_calls: list[ToolCall], where: str) -> ToolCall:
    wanted_id, wanted_name = raw.get("tool_call_id"), raw.get("name")
    for call in open_calls:
        if (wanted_id is not None and call.id == wanted_id) or (
            wanted_id is None and call.name == wanted_name
        ):
            return call
    if wanted_id is None and wanted_name is None:
        raise FieldProblem(where, "a tool turn needs the tool_call_id (or name) of the call it answers")
    raise FieldProblem(where, f"answers no earlier tool call ({wanted_id or wanted_name!r})")


def messages(value: Any, name: str) -> list[Stored]:
    """A list of {"role", "content"} dicts, checked message by message, in their stored form. An
    assistant turn may carry `tool_calls` (content may then be empty); a `tool` turn must answer
    an earlier call, by `tool_call_id` or by the tool's `name`."""
    if type(value) is list and value:  # the plain case: every message a role and a text
        plain = []
        for raw in value:
            if type(raw) is not dict or raw.keys() != _PLAIN_KEYS:
                break
            role, content = raw["role"], raw["content"]
            if type(role) is not str or role not in _PLAIN_ROLES:
                break
            if type(content) is not str or not content or content.isspace():
                break
            plain.append({"role": role, "content": content})
        else:
            return plain
    return [message.to_dict() for message in _messages(value, name)]


def _messages(value: Any, name: str) -> list[Message]:
    if not isinstance(value, list):
        raise FieldProblem(name, f"must be a list of messages, got {type_name(value)}")
    if not value:
        raise FieldProblem(name, "has no messages")
    result: list[Message] = []
    open_calls: list[ToolCall] = []
    calls_seen = 0
    for number, raw in enumerate(value):
        where = f"{name}[{number}]"
        if not isinstance(raw, dict):
            raise FieldProblem(where, f"must be an object with role and content, got {type_name(raw)}")
        role_name = raw.get("role")
        try:
            role = Role(str(role_name))
        except ValueError:
            raise FieldProblem(
                f"{where}.role", f"unknown role {role_name!r} (use system, user, assistant or tool)"
            ) from None
        if role is Role.ASSISTANT and raw.get("tool_calls"):
            calls = tool_calls(raw["tool_calls"], f"{where}.tool_calls", calls_seen)
            calls_seen += len(calls)
            open_calls.extend(calls)
            content = raw.get("content") or ""
            if not isinstance(content, str):
                content = text(content, f"{where}.content")
            result.append(Message(role, content, calls))
        elif role is Role.TOOL:
            answered = _answered_call(raw, open_calls, where)
            open_calls.remove(answered)
            result.append(
                Message(role, text(raw.get("content"), f"{where}.content"), (), answered.id, answered.name)
            )
        else:
            result.append(Message(role, text(raw.get("content"), f"{where}.content")))
    return result


def prompt(value: Any, name: str = "prompt", system: str | None = None) -> list[Stored]:
    """A prompt as stored chat messages: a string is one user turn; a list must end with the turn
    being answered, a user turn or a tool result."""
    if isinstance(value, str):
        turns = [{"role": "user", "content": text(value, name)}]
    else:
        turns = messages(value, name)
    if system is not None:
        if turns[0]["role"] == "system":
            raise FieldProblem("system", f"given, but {name} already starts with a system message")
        turns.insert(0, {"role": "system", "content": system})
    for number, message in enumerate(turns):
        if message["role"] == "system" and number != 0:
            raise FieldProblem(f"{name}[{number}].role", "a system message may only come first")
    if turns[-1]["role"] not in ("user", "tool"):
        raise FieldProblem(
            name, f"must end with the user turn being answered, not a {turns[-1]['role']} turn"
        )
    return turns


def distinct(contents: Sequence[str], names: Sequence[str]) -> None:
    seen: dict[str, str] = {}
    for content, name in zip(contents, names, strict=True):
        stripped = content.strip()
        if stripped in seen:
            raise FieldProblem(name, f"has the same content as {seen[stripped]}: nothing to compare")
        seen[stripped] = name


# --- the rules over a batch ---------------------------------------------------------------


class Batch:
    """The records of one batch of one format and, per record, its first problem (None while it
    has none). Each method applies one rule to one field of every record still without one."""

    def __init__(self, records: Sequence[dict[str, Any]]) -> None:
        self.records = records
        self.problems: list[FieldProblem | SkipRecord | None] = [None] * len(records)

    def column(self, name: str) -> list[Any]:
        return [record.get(name) for record in self.records]

    def each(self, values: Sequence[Any], rule: Callable[..., T], *args: Any) -> list[T | None]:
        """rule(value, *args) for each record without a problem yet; None for the others."""
        problems = self.problems
        result: list[T | None] = []
        for number, value in enumerate(values):
            if problems[number] is not None:
                result.append(None)
                continue
            try:
                result.append(rule(value, *args))
            except (FieldProblem, SkipRecord) as exc:
                problems[number] = exc
                result.append(None)
        return result

    def refuse(self, number: int, field_name: str | None, message: str) -> None:
        if self.problems[number] is None:
            self.problems[number] = FieldProblem(field_name, message)

    def texts(self, name: str, *, required: bool = True) -> list[Any]:
        """The `text` rule over a field; a missing (or null) field is a problem when required."""
        values = self.column(name)
        problems = self.problems
        result: list[Any] = []
        for number, value in enumerate(values):
            if type(value) is str and value and not value.isspace():
                result.append(value)
            elif problems[number] is not None:
                result.append(None)
            elif value is None:
                if required:
                    problems[number] = FieldProblem(name, "is missing")
                result.append(None)
            else:
                try:
                    result.append(text(value, name))
                except FieldProblem as exc:
                    problems[number] = exc
                    result.append(None)
        return result

    def required(self, name: str) -> list[Any]:
        """The raw values of a field every record must have (not null)."""
        values = self.column(name)
        for number, value in enumerate(values):
            if value is None:
                self.refuse(number, name, "is missing")
        return values

    def keys(self, name: str) -> list[str | None]:
        values = self.column(name)
        problems = self.problems
        result: list[str | None] = []
        for number, value in enumerate(values):
            if value is None or problems[number] is not None:
                result.append(None)
            elif type(value) is str and value and not value[0].isspace() and not value[-1].isspace():
                result.append(value)
            else:
                try:
                    result.append(key(value, name))
                except FieldProblem as exc:
                    problems[number] = exc
                    result.append(None)
        return result

    def metadata(self, known: frozenset[str]) -> list[str]:
        """Item metadata as stored JSON text: the `metadata` object plus unknown fields."""
        problems = self.problems
        result: list[str] = []
        for number, record in enumerate(self.records):
            if problems[number] is not None or record.keys() <= known:
                result.append("{}")
                continue
            try:
                metadata = item_metadata(record, known)
            except FieldProblem as exc:
                problems[number] = exc
                result.append("{}")
                continue
            result.append(json_text(metadata) if metadata else "{}")
        return result

    def prompts(self, name: str, systems: Sequence[str | None] | None = None) -> list[list[Stored] | None]:
        """The `prompt` rule over a required field (with the records' system texts, if any)."""
        values = self.required(name)
        if systems is None:
            return self.each(values, prompt, name)
        problems = self.problems
        result: list[list[Stored] | None] = []
        for number, (value, system) in enumerate(zip(values, systems, strict=True)):
            if problems[number] is not None:
                result.append(None)
                continue
            try:
                result.append(prompt(value, name, system))
            except FieldProblem as exc:
                problems[number] = exc
                result.append(None)
        return result
