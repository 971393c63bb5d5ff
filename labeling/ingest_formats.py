"""The import formats: each turns one raw record into a `Candidate` or raises `FieldProblem`.

    responses  {"id"?, "prompt": str | [messages], "responses": [{"model", "content"}, ...],
                "metadata"?, "group_key"?}
    pairs      {"id"?, "prompt", "response_a", "response_b", "model_a"?, "model_b"?, "system"?}
    trl        {"prompt"?, "chosen", "rejected"}: TRL preference data, standard or conversational
    arena      Chatbot Arena battles: {"model_a", "model_b", "conversation_a", "conversation_b",
                "winner", "question_id"?, ...}

A prompt becomes chat messages: an optional system message first, the user turn last.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labeling.models import Message, Role, ToolCall, canonical_json

FORMATS = ("responses", "pairs", "trl", "arena")
PROMPT_ROLES = {Role.SYSTEM, Role.USER, Role.ASSISTANT}
# The fields each format reads; any other field of a record becomes item metadata.
RESPONSES_FIELDS = frozenset({"id", "prompt", "responses", "group_key"})
PAIRS_FIELDS = frozenset(
    {"id", "prompt", "system", "response_a", "response_b", "model_a", "model_b", "group_key"}
)


class FieldProblem(Exception):
    def __init__(self, field_name: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass
class CandidateResponse:
    model: str
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Candidate:
    """One record, validated: what to store, before ids are assigned."""

    source_id: str | None
    prompt: tuple[Message, ...]
    responses: list[CandidateResponse]
    # Indexes into `responses` to pair; None means every combination (N responses -> N*(N-1)/2).
    pairs: list[tuple[int, int]] | None = None
    # The source's own label for an explicit pair, kept for a later agreement check:
    # source_verdict "a" (first of the pair preferred), "b", "tie", "both_bad" or None.
    pair_metadata: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    group_key: str | None = None


def detect_format(record: dict[str, Any]) -> str | None:
    if "responses" in record:
        return "responses"
    if "response_a" in record or "response_b" in record:
        return "pairs"
    if "conversation_a" in record or "conversation_b" in record:
        return "arena"
    if "chosen" in record or "rejected" in record:
        return "trl"
    return None


# --- shared field checks -------------------------------------------------------------------


def _require(record: dict[str, Any], name: str) -> Any:
    if name not in record or record[name] is None:
        raise FieldProblem(name, "is missing")
    return record[name]


def _text(value: Any, name: str) -> str:
    """Message content: a non-empty string, or a list of text parts joined together."""
    if isinstance(value, list):
        texts = []
        for number, part in enumerate(value):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise FieldProblem(f"{name}[{number}]", "only text parts are supported")
            texts.append(_text(part.get("text"), f"{name}[{number}].text"))
        value = "".join(texts)
    if not isinstance(value, str):
        raise FieldProblem(name, f"must be a string, got {_type_name(value)}")
    if not value.strip():
        raise FieldProblem(name, "is empty")
    return value


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _optional_text(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    return None if value is None else _text(value, name)


def _source_id(record: dict[str, Any], name: str = "id") -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise FieldProblem(name, f"must be a string or an integer, got {_type_name(value)}")
    text = str(value).strip()
    if not text:
        raise FieldProblem(name, "is empty")
    return text


def item_metadata(record: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """The record's `metadata` object plus any columns the format does not use."""
    value = record.get("metadata", {})
    if not isinstance(value, dict):
        raise FieldProblem("metadata", f"must be an object, got {_type_name(value)}")
    extra = {k: v for k, v in record.items() if k not in known and k != "metadata"}
    return {**extra, **value}


def _group_key(record: dict[str, Any]) -> str | None:
    return _source_id(record, "group_key")


def _tool_calls(value: Any, where: str, number_of_calls: int) -> tuple[ToolCall, ...]:
    """OpenAI-style or TRL-style tool calls; arguments as a JSON string or an object."""
    if not isinstance(value, list) or not value:
        raise FieldProblem(where, "must be a non-empty list of tool calls")
    calls = []
    for n, raw in enumerate(value):
        here = f"{where}[{n}]"
        function = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(function, dict):
            raise FieldProblem(here, 'must be {"type": "function", "function": {"name", "arguments"}}')
        tool = _text(function.get("name"), f"{here}.function.name").strip()
        arguments = function.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as exc:
                raise FieldProblem(f"{here}.function.arguments", f"is not valid JSON: {exc.msg}") from None
        if not isinstance(arguments, dict):
            raise FieldProblem(
                f"{here}.function.arguments", f"must be an object, got {_type_name(arguments)}"
            )
        call_id = raw.get("id") or f"call_{number_of_calls + n}"  # TRL data often has no ids
        calls.append(ToolCall(str(call_id), tool, canonical_json(arguments)))
    return tuple(calls)


def messages(value: Any, name: str) -> list[Message]:
    """A list of {"role", "content"} dicts, checked message by message. An assistant turn may
    carry `tool_calls` (content may then be empty); a `tool` turn must answer an earlier call,
    by `tool_call_id` or by the tool's `name`."""
    if not isinstance(value, list):
        raise FieldProblem(name, f"must be a list of messages, got {_type_name(value)}")
    if not value:
        raise FieldProblem(name, "has no messages")
    result: list[Message] = []
    open_calls: list[ToolCall] = []
    calls_seen = 0
    for number, raw in enumerate(value):
        where = f"{name}[{number}]"
        if not isinstance(raw, dict):
            raise FieldProblem(where, f"must be an object with role and content, got {_type_name(raw)}")
        role_name = raw.get("role")
        try:
            role = Role(str(role_name))
        except ValueError:
            raise FieldProblem(
                f"{where}.role", f"unknown role {role_name!r} (use system, user, assistant or tool)"
            ) from None
        if role is Role.ASSISTANT and raw.get("tool_calls"):
            calls = _tool_calls(raw["tool_calls"], f"{where}.tool_calls", calls_seen)
            calls_seen += len(calls)
            open_calls.extend(calls)
            content = raw.get("content") or ""
            if not isinstance(content, str):
                content = _text(content, f"{where}.content")
            result.append(Message(role, content, calls))
        elif role is Role.TOOL:
            answered = _answered_call(raw, open_calls, where)
            open_calls.remove(answered)
            result.append(
                Message(role, _text(raw.get("content"), f"{where}.content"), (), answered.id, answered.name)
            )
        else:
            result.append(Message(role, _text(raw.get("content"), f"{where}.content")))
    return result


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


def prompt(value: Any, name: str = "prompt", system: str | None = None) -> tuple[Message, ...]:
    """A prompt as chat messages: a string is one user turn; a list must end with the turn being
    answered, a user turn or a tool result."""
    turns = [Message(Role.USER, _text(value, name))] if isinstance(value, str) else messages(value, name)
    if system is not None:
        if turns[0].role is Role.SYSTEM:
            raise FieldProblem("system", f"given, but {name} already starts with a system message")
        turns.insert(0, Message(Role.SYSTEM, system))
    for number, message in enumerate(turns):
        if message.role is Role.SYSTEM and number != 0:
            raise FieldProblem(f"{name}[{number}].role", "a system message may only come first")
    if turns[-1].role not in (Role.USER, Role.TOOL):
        raise FieldProblem(
            name, f"must end with the user turn being answered, not a {turns[-1].role.value} turn"
        )
    return tuple(turns)


def _distinct(contents: list[str], names: list[str]) -> None:
    seen: dict[str, str] = {}
    for content, name in zip(contents, names, strict=True):
        key = content.strip()
        if key in seen:
            raise FieldProblem(name, f"has the same content as {seen[key]}: nothing to compare")
        seen[key] = name


# --- the formats ---------------------------------------------------------------------------


def parse_responses(record: dict[str, Any]) -> Candidate:
    turns = prompt(_require(record, "prompt"))
    raw = _require(record, "responses")
    if not isinstance(raw, list):
        raise FieldProblem("responses", f"must be a list, got {_type_name(raw)}")
    if len(raw) < 2:
        raise FieldProblem("responses", f"needs two or more responses to compare, got {len(raw)}")
    responses = []
    for number, entry in enumerate(raw):
        where = f"responses[{number}]"
        if not isinstance(entry, dict):
            raise FieldProblem(where, f"must be an object with model and content, got {_type_name(entry)}")
        model = _text(entry.get("model"), f"{where}.model") if "model" in entry else None
        if model is None:
            raise FieldProblem(f"{where}.model", "is missing")
        content = _text(entry.get("content"), f"{where}.content")
        extra = {k: v for k, v in entry.items() if k not in ("model", "content")}
        responses.append(CandidateResponse(model.strip(), content, extra))
    _distinct([r.content for r in responses], [f"responses[{n}]" for n in range(len(responses))])
    return Candidate(
        source_id=_source_id(record),
        prompt=turns,
        responses=responses,
        metadata=item_metadata(record, RESPONSES_FIELDS),
        group_key=_group_key(record),
    )


def parse_pairs(record: dict[str, Any]) -> Candidate:
    system = _optional_text(record, "system")
    turns = prompt(_require(record, "prompt"), system=system)
    a = _text(_require(record, "response_a"), "response_a")
    b = _text(_require(record, "response_b"), "response_b")
    _distinct([a, b], ["response_a", "response_b"])
    model_a = _optional_text(record, "model_a") or "model_a"
    model_b = _optional_text(record, "model_b") or "model_b"
    return Candidate(
        source_id=_source_id(record),
        prompt=turns,
        responses=[CandidateResponse(model_a.strip(), a), CandidateResponse(model_b.strip(), b)],
        pairs=[(0, 1)],
        metadata=item_metadata(record, PAIRS_FIELDS),
        group_key=_group_key(record),
    )


def _one_assistant_message(value: Any, name: str) -> str:
    turns = messages(value, name)
    if len(turns) != 1 or turns[0].role is not Role.ASSISTANT:
        raise FieldProblem(name, "must be exactly one assistant message")
    if turns[0].tool_calls:
        raise FieldProblem(name, "an answer that is a tool call is not supported yet (text answers only)")
    return turns[0].content


def _common_prefix_length(a: list[Message], b: list[Message]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def parse_trl(record: dict[str, Any]) -> Candidate:
    """TRL preference rows: explicit or implicit prompt, standard strings or messages.

    The source's own label is kept on the pair (`source_label`) for a later agreement check.
    """
    chosen_raw = _require(record, "chosen")
    rejected_raw = _require(record, "rejected")
    if isinstance(chosen_raw, str) != isinstance(rejected_raw, str):
        raise FieldProblem("rejected", "must have the same format as chosen (both text or both messages)")
    if "prompt" in record and record["prompt"] is not None:
        turns = prompt(record["prompt"])
        if isinstance(chosen_raw, str):
            chosen, rejected = _text(chosen_raw, "chosen"), _text(rejected_raw, "rejected")
        else:
            chosen = _one_assistant_message(chosen_raw, "chosen")
            rejected = _one_assistant_message(rejected_raw, "rejected")
    elif isinstance(chosen_raw, str):
        chosen_text, rejected_text = _text(chosen_raw, "chosen"), _text(rejected_raw, "rejected")
        n = 0
        while n < min(len(chosen_text), len(rejected_text)) and chosen_text[n] == rejected_text[n]:
            n += 1
        if n and chosen_text[n - 1] == " ":  # as TRL's extract_prompt: the space goes with the answer
            n -= 1
        if not chosen_text[:n].strip():
            raise FieldProblem("prompt", "is missing, and chosen and rejected share no prompt text")
        turns = prompt(chosen_text[:n])
        chosen, rejected = _text(chosen_text[n:], "chosen"), _text(rejected_text[n:], "rejected")
    else:
        chosen_turns, rejected_turns = messages(chosen_raw, "chosen"), messages(rejected_raw, "rejected")
        n = _common_prefix_length(chosen_turns, rejected_turns)
        if n == 0:
            raise FieldProblem("prompt", "is missing, and chosen and rejected share no first message")
        turns = prompt([m.to_dict() for m in chosen_turns[:n]], "prompt (shared start of chosen)")
        chosen = _one_assistant_message([m.to_dict() for m in chosen_turns[n:]], "chosen (after the prompt)")
        rejected = _one_assistant_message(
            [m.to_dict() for m in rejected_turns[n:]], "rejected (after the prompt)"
        )
    _distinct([chosen, rejected], ["chosen", "rejected"])
    model_chosen = _optional_text(record, "model_chosen") or "source:chosen"
    model_rejected = _optional_text(record, "model_rejected") or "source:rejected"
    known = frozenset({"id", "prompt", "chosen", "rejected", "model_chosen", "model_rejected", "group_key"})
    return Candidate(
        source_id=_source_id(record),
        prompt=turns,
        responses=[
            CandidateResponse(model_chosen.strip(), chosen),
            CandidateResponse(model_rejected.strip(), rejected),
        ],
        pairs=[(0, 1)],
        pair_metadata={"source": "trl", "source_verdict": "a"},  # responses[0] was chosen
        metadata=item_metadata(record, known),
        group_key=_group_key(record),
    )


_ARENA_WINNERS = {"model_a": "a", "model_b": "b", "tie": "tie", "tie (bothbad)": "both_bad"}


class SkipRecord(Exception):
    """A record that is valid but carries nothing to judge (counted, not stored)."""


def parse_arena(record: dict[str, Any]) -> Candidate:
    """A Chatbot Arena battle. Multi-turn battles whose histories differ keep only turn one."""
    model_a = _text(_require(record, "model_a"), "model_a").strip()
    model_b = _text(_require(record, "model_b"), "model_b").strip()
    side_a = messages(_require(record, "conversation_a"), "conversation_a")
    side_b = messages(_require(record, "conversation_b"), "conversation_b")
    winner = record.get("winner")
    if winner is not None and winner not in _ARENA_WINNERS:
        raise FieldProblem("winner", f"unknown value {winner!r} (expected one of {sorted(_ARENA_WINNERS)})")
    for side, name in ((side_a, "conversation_a"), (side_b, "conversation_b")):
        if side[-1].role is not Role.ASSISTANT or side[-1].tool_calls or not side[-1].content.strip():
            raise FieldProblem(name, "must end with the model's answer (an assistant turn with text)")
    turns_used = "all"
    if side_a[:-1] != side_b[:-1]:
        first_a = side_a[: next(i for i, m in enumerate(side_a) if m.role is Role.ASSISTANT) + 1]
        first_b = side_b[: next(i for i, m in enumerate(side_b) if m.role is Role.ASSISTANT) + 1]
        if first_a[:-1] != first_b[:-1]:
            raise FieldProblem("conversation_b", "does not start with the same prompt as conversation_a")
        side_a, side_b, turns_used = first_a, first_b, "first"
    turns = prompt([m.to_dict() for m in side_a[:-1]], "conversation_a (before the answer)")
    answer_a, answer_b = side_a[-1].content, side_b[-1].content
    if answer_a.strip() == answer_b.strip():
        raise SkipRecord("both models gave the same answer")
    return Candidate(
        source_id=None,  # one question is battled by many model pairs: items merge by prompt
        prompt=turns,
        responses=[CandidateResponse(model_a, answer_a), CandidateResponse(model_b, answer_b)],
        pairs=[(0, 1)],
        pair_metadata={
            "source": "arena",
            "source_verdict": _ARENA_WINNERS[winner] if winner else None,
            "turns_used": turns_used,
            **{k: record[k] for k in ("question_id", "judge", "tstamp", "language") if k in record},
        },
        group_key=_group_key(record)
        or (str(record["question_id"]) if record.get("question_id") is not None else None),
    )


PARSERS: dict[str, Callable[[dict[str, Any]], Candidate]] = {
    "responses": parse_responses,
    "pairs": parse_pairs,
    "trl": parse_trl,
    "arena": parse_arena,
}
