"""The import formats: one parser per format, over a batch of raw records at a time.

    responses  {"id"?, "prompt": str | [messages], "responses": [{"model", "content"}, ...],
                "metadata"?, "group_key"?}
    pairs      {"id"?, "prompt", "response_a", "response_b", "model_a"?, "model_b"?, "system"?}
    trl        {"prompt"?, "chosen", "rejected"}: TRL preference data, standard or conversational
    arena      Chatbot Arena battles: {"model_a", "model_b", "conversation_a", "conversation_b",
                "winner", "question_id"?, ...}

A prompt becomes chat messages: an optional system message first, the user turn last. Each
parser applies the field rules (labeling/ingest/rules.py) to the batch field by field, in the
order a person reads a record, and gives per record a `Parsed` or the record's first problem:

    batch = Batch([{"prompt": "Refund?", "response_a": "Yes.", "response_b": "No."}])
    PARSERS["pairs"](batch)[0].responses  # [("model_a", "Yes.", "{}"), ("model_b", "No.", "{}")]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from labeling.ingest.rules import (
    Batch,
    FieldProblem,
    SkipRecord,
    Stored,
    distinct,
    messages,
    prompt,
    text,
    type_name,
)
from labeling.models import json_text

FORMATS = ("responses", "pairs", "trl", "arena")
# The fields each format reads; any other field of a record becomes item metadata.
RESPONSES_FIELDS = frozenset({"id", "prompt", "responses", "group_key"})
PAIRS_FIELDS = frozenset(
    {"id", "prompt", "system", "response_a", "response_b", "model_a", "model_b", "group_key"}
)
TRL_FIELDS = frozenset({"id", "prompt", "chosen", "rejected", "model_chosen", "model_rejected", "group_key"})
_RESPONSE_KEYS = frozenset({"model", "content"})

Response = tuple[str, str, str]  # model, content, metadata (stored JSON text)


class Parsed(NamedTuple):
    """One record, checked: what to store, before ids are assigned."""

    source_id: str | None
    prompt: str  # stored JSON text of the chat messages
    responses: list[Response]
    # Indexes into `responses` to pair; None means every combination (N responses -> N*(N-1)/2).
    pairs: list[tuple[int, int]] | None
    # The source's own label for an explicit pair, kept for a later agreement check:
    # source_verdict "a" (first of the pair preferred), "b", "tie", "both_bad" or None.
    pair_metadata: dict[str, Any] | None
    metadata: str  # stored JSON text
    group_key: str | None


Outcome = Parsed | FieldProblem | SkipRecord


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


def _outcomes(batch: Batch, build: Callable[[int], Parsed]) -> list[Outcome]:
    problems = batch.problems
    return [problem if (problem := problems[n]) is not None else build(n) for n in range(len(problems))]


def _models(values: list[Any], default: str) -> list[str]:
    return [default if value is None else value.strip() for value in values]


# --- responses -----------------------------------------------------------------------------


def _responses(raw: Any) -> list[Response]:
    if not isinstance(raw, list):
        raise FieldProblem("responses", f"must be a list, got {type_name(raw)}")
    if len(raw) < 2:
        raise FieldProblem("responses", f"needs two or more responses to compare, got {len(raw)}")
    responses: list[Response] = []
    for number, entry in enumerate(raw):
        if type(entry) is dict and entry.keys() == _RESPONSE_KEYS:  # the plain case, checked alike
            model, content = entry["model"], entry["content"]
            if type(model) is str and type(content) is str and content and not content.isspace():
                responses.append((text(model, f"responses[{number}].model").strip(), content, "{}"))
                continue
        where = f"responses[{number}]"
        if not isinstance(entry, dict):
            raise FieldProblem(where, f"must be an object with model and content, got {type_name(entry)}")
        if "model" not in entry:
            raise FieldProblem(f"{where}.model", "is missing")
        model = text(entry.get("model"), f"{where}.model")
        content = text(entry.get("content"), f"{where}.content")
        extra = {k: v for k, v in entry.items() if k not in _RESPONSE_KEYS}
        responses.append((model.strip(), content, json_text(extra) if extra else "{}"))
    distinct([content for _, content, _ in responses], [f"responses[{n}]" for n in range(len(responses))])
    return responses


def parse_responses(batch: Batch) -> list[Outcome]:
    prompts = batch.prompts("prompt")
    responses = batch.each(batch.required("responses"), _responses)
    source_ids = batch.keys("id")
    metadata = batch.metadata(RESPONSES_FIELDS)
    group_keys = batch.keys("group_key")
    return _outcomes(
        batch,
        lambda n: Parsed(
            source_ids[n],
            json_text(prompts[n]),
            responses[n],  # type: ignore[arg-type]  # set for every record without a problem
            None,
            None,
            metadata[n],
            group_keys[n],
        ),
    )


# --- pairs ---------------------------------------------------------------------------------


def parse_pairs(batch: Batch) -> list[Outcome]:
    systems = batch.texts("system", required=False)
    prompts = batch.prompts("prompt", systems)
    answers_a = batch.texts("response_a")
    answers_b = batch.texts("response_b")
    for number, (a, b) in enumerate(zip(answers_a, answers_b, strict=True)):
        if a is not None and b is not None and a.strip() == b.strip():
            batch.refuse(number, "response_b", "has the same content as response_a: nothing to compare")
    models_a = _models(batch.texts("model_a", required=False), "model_a")
    models_b = _models(batch.texts("model_b", required=False), "model_b")
    source_ids = batch.keys("id")
    metadata = batch.metadata(PAIRS_FIELDS)
    group_keys = batch.keys("group_key")
    return _outcomes(
        batch,
        lambda n: Parsed(
            source_ids[n],
            json_text(prompts[n]),
            [(models_a[n], answers_a[n], "{}"), (models_b[n], answers_b[n], "{}")],
            [(0, 1)],
            None,
            metadata[n],
            group_keys[n],
        ),
    )


# --- trl -----------------------------------------------------------------------------------


def _one_assistant_message(value: Any, name: str) -> str:
    turns = messages(value, name)
    if len(turns) != 1 or turns[0]["role"] != "assistant":
        raise FieldProblem(name, "must be exactly one assistant message")
    if turns[0].get("tool_calls"):
        raise FieldProblem(name, "an answer that is a tool call is not supported yet (text answers only)")
    content: str = turns[0]["content"]
    return content


def _common_prefix_length(a: list[Stored], b: list[Stored]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _shared_start(a: str, b: str) -> int:
    """The length of the longest common prefix (halving: each comparison runs in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _trl_row(record: dict[str, Any]) -> tuple[list[Stored], str, str]:
    """TRL's prompt and answers: an explicit or implicit prompt, standard strings or messages."""
    chosen_raw, rejected_raw = record["chosen"], record["rejected"]
    if isinstance(chosen_raw, str) != isinstance(rejected_raw, str):
        raise FieldProblem("rejected", "must have the same format as chosen (both text or both messages)")
    if record.get("prompt") is not None:
        turns = prompt(record["prompt"])
        if isinstance(chosen_raw, str):
            chosen, rejected = text(chosen_raw, "chosen"), text(rejected_raw, "rejected")
        else:
            chosen = _one_assistant_message(chosen_raw, "chosen")
            rejected = _one_assistant_message(rejected_raw, "rejected")
    elif isinstance(chosen_raw, str):
        chosen_text, rejected_text = text(chosen_raw, "chosen"), text(rejected_raw, "rejected")
        n = _shared_start(chosen_text, rejected_text)
        if n and chosen_text[n - 1] == " ":  # as TRL's extract_prompt: the space goes with the answer
            n -= 1
        if not chosen_text[:n].strip():
            raise FieldProblem("prompt", "is missing, and chosen and rejected share no prompt text")
        turns = prompt(chosen_text[:n])
        chosen, rejected = text(chosen_text[n:], "chosen"), text(rejected_text[n:], "rejected")
    else:
        chosen_turns, rejected_turns = messages(chosen_raw, "chosen"), messages(rejected_raw, "rejected")
        n = _common_prefix_length(chosen_turns, rejected_turns)
        if n == 0:
            raise FieldProblem("prompt", "is missing, and chosen and rejected share no first message")
        turns = prompt(chosen_turns[:n], "prompt (shared start of chosen)")
        chosen = _one_assistant_message(chosen_turns[n:], "chosen (after the prompt)")
        rejected = _one_assistant_message(rejected_turns[n:], "rejected (after the prompt)")
    distinct([chosen, rejected], ["chosen", "rejected"])
    return turns, chosen, rejected


_TRL_LABEL = {"source": "trl", "source_verdict": "a"}  # responses[0] was chosen


def parse_trl(batch: Batch) -> list[Outcome]:
    """TRL preference rows; the source's own label is kept on the pair for a later agreement check."""
    batch.required("chosen")
    batch.required("rejected")
    rows = batch.each(batch.records, _trl_row)
    models_chosen = _models(batch.texts("model_chosen", required=False), "source:chosen")
    models_rejected = _models(batch.texts("model_rejected", required=False), "source:rejected")
    source_ids = batch.keys("id")
    metadata = batch.metadata(TRL_FIELDS)
    group_keys = batch.keys("group_key")

    def build(n: int) -> Parsed:
        turns, chosen, rejected = rows[n]  # type: ignore[misc]  # set for every record without a problem
        return Parsed(
            source_ids[n],
            json_text(turns),
            [(models_chosen[n], chosen, "{}"), (models_rejected[n], rejected, "{}")],
            [(0, 1)],
            _TRL_LABEL,
            metadata[n],
            group_keys[n],
        )

    return _outcomes(batch, build)


# --- arena ---------------------------------------------------------------------------------

_ARENA_WINNERS = {"model_a": "a", "model_b": "b", "tie": "tie", "tie (bothbad)": "both_bad"}
_ARENA_KEPT = ("question_id", "judge", "tstamp", "language")


def _arena_battle(record: dict[str, Any], side_a: list[Stored], side_b: list[Stored]) -> tuple[Any, ...]:
    """A battle's prompt, answers and turns used. Multi-turn battles whose histories differ keep
    only turn one."""
    winner = record.get("winner")
    if winner is not None and (type(winner) is not str or winner not in _ARENA_WINNERS):
        raise FieldProblem("winner", f"unknown value {winner!r} (expected one of {sorted(_ARENA_WINNERS)})")
    for side, name in ((side_a, "conversation_a"), (side_b, "conversation_b")):
        last = side[-1]
        if last["role"] != "assistant" or last.get("tool_calls") or not last["content"].strip():
            raise FieldProblem(name, "must end with the model's answer (an assistant turn with text)")
    turns_used = "all"
    if side_a[:-1] != side_b[:-1]:
        first_a = side_a[: next(i for i, m in enumerate(side_a) if m["role"] == "assistant") + 1]
        first_b = side_b[: next(i for i, m in enumerate(side_b) if m["role"] == "assistant") + 1]
        if first_a[:-1] != first_b[:-1]:
            raise FieldProblem("conversation_b", "does not start with the same prompt as conversation_a")
        side_a, side_b, turns_used = first_a, first_b, "first"
    turns = prompt(side_a[:-1], "conversation_a (before the answer)")
    answer_a, answer_b = side_a[-1]["content"], side_b[-1]["content"]
    if answer_a.strip() == answer_b.strip():
        raise SkipRecord("both models gave the same answer")
    return turns, answer_a, answer_b, winner, turns_used


def parse_arena(batch: Batch) -> list[Outcome]:
    """Chatbot Arena battles. One question is battled by many model pairs: items merge by prompt."""
    models_a = [None if m is None else m.strip() for m in batch.texts("model_a")]
    models_b = [None if m is None else m.strip() for m in batch.texts("model_b")]
    sides_a = batch.each(batch.required("conversation_a"), messages, "conversation_a")
    sides_b = batch.each(batch.required("conversation_b"), messages, "conversation_b")
    battles = [
        None if batch.problems[n] is not None else _battle_or_problem(batch, n, side_a, side_b)
        for n, (side_a, side_b) in enumerate(zip(sides_a, sides_b, strict=True))
    ]
    group_keys = batch.keys("group_key")

    def build(n: int) -> Parsed:
        record = batch.records[n]
        turns, answer_a, answer_b, winner, turns_used = battles[n]  # type: ignore[misc]
        question = record.get("question_id")
        return Parsed(
            None,
            json_text(turns),
            [(models_a[n], answer_a, "{}"), (models_b[n], answer_b, "{}")],  # type: ignore[list-item]
            [(0, 1)],
            {
                "source": "arena",
                "source_verdict": _ARENA_WINNERS[winner] if winner else None,
                "turns_used": turns_used,
                **{k: record[k] for k in _ARENA_KEPT if k in record},
            },
            "{}",
            group_keys[n] or (str(question) if question is not None else None),
        )

    return _outcomes(batch, build)


def _battle_or_problem(batch: Batch, n: int, side_a: Any, side_b: Any) -> tuple[Any, ...] | None:
    try:
        return _arena_battle(batch.records[n], side_a, side_b)
    except (FieldProblem, SkipRecord) as exc:
        batch.problems[n] = exc
        return None


PARSERS: dict[str, Callable[[Batch], list[Outcome]]] = {
    "responses": parse_responses,
    "pairs": parse_pairs,
    "trl": parse_trl,
    "arena": parse_arena,
}
