"""Domain objects shared by every layer. This module imports nothing from the project.

A prompt is a tuple of chat messages: an optional system message first, earlier turns, and the
user (or tool) turn being answered last. Responses are assistant answers to an item. A pair is two
responses of one item; the order a pair was *shown* in lives on the judgment (left_id, right_id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class PairVerdict(StrEnum):
    """What an annotator said of a pair, relative to the sides as shown."""

    LEFT = "left"
    RIGHT = "right"
    TIE = "tie"
    BOTH_BAD = "both_bad"


# The contract of a judgment, read by the domain's checks and the REST schema alike.
VERDICTS = tuple(verdict.value for verdict in PairVerdict)
STRENGTHS = (1, 2, 3)  # how much better the preferred response is: slightly, clearly, much
MAX_RATIONALE = 5000  # characters
CLIENT_ID_PATTERN = r"^[A-Za-z0-9_.:-]{8,64}$"  # a UUID is ideal
DATASET_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class JudgmentKind(StrEnum):
    """An open set: vibe checks, rankings and edits arrive with later screens."""

    PAIR = "pair"
    UNDO = "undo"


class UserRole(StrEnum):
    ADMIN = "admin"
    ANNOTATOR = "annotator"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call an assistant turn made; arguments kept as canonical JSON text."""

    id: str
    name: str
    arguments_json: str

    @property
    def arguments(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.arguments_json)
        return value


@dataclass(frozen=True, slots=True)
class Message:
    """One chat turn. An assistant turn may carry tool calls (its content may then be empty);
    a tool turn answers one of them (`tool_call_id`, and the tool's `name`)."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The stored form: tool-call arguments as objects, tool turns with both id and name."""
        data: dict[str, Any] = {"role": self.role.value, "content": self.content}
        if self.tool_calls:
            data["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        if self.tool_call_id is not None:
            data["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            data["name"] = self.name
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        calls = tuple(
            ToolCall(c["id"], c["function"]["name"], canonical_json(c["function"]["arguments"]))
            for c in data.get("tool_calls", ())
        )
        return cls(Role(data["role"]), data["content"], calls, data.get("tool_call_id"), data.get("name"))


def json_text(value: Any) -> str:
    """Compact UTF-8 JSON for storing (orjson: ~10x faster than json on import-sized batches)."""
    return orjson.dumps(value, default=str).decode("utf-8")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys: equal values give equal text (tool-call arguments)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def messages_to_json(messages: tuple[Message, ...]) -> str:
    return json_text([m.to_dict() for m in messages])


def messages_from_json(text: str) -> tuple[Message, ...]:
    return tuple(Message.from_dict(m) for m in orjson.loads(text))


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    dataset: str
    prompt: tuple[Message, ...]
    group_key: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def caption(self) -> str:
        """What the item is about, for messages: the first line of the turn being answered,
        cut to 60 characters.

        >>> Item("d/1", "d", (Message(Role.USER, "Subject: refund\\n\\nI was charged twice."),), "g").caption
        'Subject: refund'
        """
        text = self.prompt[-1].content if self.prompt else ""
        line = next((line for line in text.splitlines() if line.strip()), "")
        line = " ".join(line.split())
        return line if len(line) <= CAPTION_LENGTH else line[: CAPTION_LENGTH - 1].rstrip() + "…"


CAPTION_LENGTH = 60
WORDING_FIELDS = ("question", "user_label", "assistant_label", "system_label")


@dataclass(frozen=True, slots=True)
class Wording:
    """How a dataset's pairs are put to annotators: the question the Compare screen asks and the
    names of the turns of a prompt. Neutral unless the dataset sets its own."""

    question: str = "Which response is better?"
    user_label: str = "User"
    assistant_label: str = "Assistant"
    system_label: str = "System prompt"

    @classmethod
    def of(cls, chosen: dict[str, str | None]) -> Wording:
        """The wording with the fields a dataset chose (None or absent: the neutral default).

        >>> Wording.of({"question": "Which reply is kinder?", "user_label": None}).user_label
        'User'
        """
        return cls(**{name: value for name, value in chosen.items() if value is not None})


NEUTRAL_WORDING = Wording()


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """A dataset as `prefdesk datasets list` shows it: its size and the wording it chose."""

    name: str
    items: int
    pairs: int
    chosen: dict[str, str | None]  # the wording fields set for it (None: the neutral default)

    @property
    def wording(self) -> Wording:
        return Wording.of(self.chosen)


@dataclass(frozen=True, slots=True)
class Response:
    id: str
    item_id: str
    model: str
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Pair:
    """Two responses of one item, in canonical order (response_a_id < response_b_id)."""

    id: str
    item_id: str
    response_a_id: str
    response_b_id: str


@dataclass(frozen=True, slots=True)
class Showing:
    """A pair as put in front of one annotator: sides already randomised."""

    showing_id: str  # becomes the judgment id: a double submit of one showing stores one judgment
    pair: Pair
    item: Item
    left: Response
    right: Response
    shown_at: datetime
    wording: Wording = NEUTRAL_WORDING  # its dataset's question and turn labels


@dataclass(frozen=True, slots=True)
class PairJudgment:
    id: str
    annotator: str
    item_id: str
    pair_id: str
    left_id: str
    right_id: str
    verdict: PairVerdict
    rationale: str
    shown_at: datetime | None
    submitted_at: datetime
    strength: int | None = None  # how much better: 1 slightly, 2 clearly, 3 much (optional)

    @property
    def preferred_id(self) -> str | None:
        if self.verdict is PairVerdict.LEFT:
            return self.left_id
        if self.verdict is PairVerdict.RIGHT:
            return self.right_id
        return None


@dataclass(frozen=True, slots=True)
class Progress:
    judged: int
    total: int

    @property
    def remaining(self) -> int:
        return max(self.total - self.judged, 0)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: UserRole


@dataclass(frozen=True)
class Account:
    """An account as stored, without its password hash."""

    name: str
    role: UserRole
    created_at: datetime
    disabled_at: datetime | None
    sessions_reset_at: datetime | None  # browser sessions started before this are over

    @property
    def user(self) -> User:
        return User(self.name, self.role)


@dataclass(frozen=True)
class StoredToken:
    """An API token as stored, without its secret."""

    id: str
    user_name: str
    label: str
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None  # None: works until revoked
    created_by: str | None = None  # None: made before prefdesk recorded it


@dataclass(frozen=True, slots=True)
class ExportRef:
    """An export as the store recorded it: enough to name it to a person.

    >>> from datetime import datetime
    >>> made = datetime(2026, 11, 23, 4, 0)
    >>> ExportRef("3f2a9c1e-0000", "evals", "promptfoo", "/out/evals", made).describe()
    '3f2a9c1e (evals/promptfoo, /out/evals, 2026-11-23 04:00)'
    """

    id: str
    kind: str
    target: str
    out_dir: str
    created_at: datetime

    @property
    def short_id(self) -> str:
        """The first 8 characters: what messages show; commands accept any unique prefix."""
        return self.id[:8]

    def describe(self) -> str:
        made = f"{self.created_at:%Y-%m-%d %H:%M}"
        return f"{self.short_id} ({self.kind}/{self.target}, {self.out_dir}, {made})"

    def to_dict(self) -> dict[str, str]:
        return {
            "export_id": self.id,
            "kind": self.kind,
            "target": self.target,
            "out_dir": self.out_dir,
            "created_at": self.created_at.isoformat(timespec="seconds") + "Z",
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportRef:
        """From to_dict's form (as a manifest holds it)."""
        made = datetime.fromisoformat(data["created_at"].removesuffix("Z"))
        return cls(data["export_id"], data["kind"], data["target"], data["out_dir"], made)


@dataclass(frozen=True, slots=True)
class EvalSet:
    """An export's eval items in the registry (an eval set, or a training export's eval split)."""

    export: ExportRef
    items: int
    removed_at: datetime | None = None  # when its registrations were undone; None while in force


@dataclass(frozen=True)
class ImportLimits:
    """How much one import may ask of the annotators. An item whose responses are all paired
    (the `responses` format) gets n(n-1)/2 pairs from n responses (1,000 responses: 499,500
    pairs), so its responses are capped, counting those already stored; items with pairs given
    explicitly (`pairs`, `trl`, `arena`) grow one pair per record, under the cap on pairs per
    import. An import over a cap is refused, whole, with the numbers."""

    max_responses_per_item: int = 16
    max_pairs: int = 2_000_000
