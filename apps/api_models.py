"""Request and response bodies of the REST API: they are its OpenAPI schema, so every field
says what it is and what it accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from exports.registry import KINDS, TARGETS
from exports.select import AGGREGATIONS, BOTH_BAD_POLICIES, PAIR_MODES, TIE_POLICIES
from labeling.ingest.formats import FORMATS
from labeling.models import CLIENT_ID_PATTERN, DATASET_NAME_PATTERN, MAX_RATIONALE, STRENGTHS, VERDICTS

ClientId = Field(
    pattern=CLIENT_ID_PATTERN,
    description="your id for this action, 8-64 of A-Z a-z 0-9 _ . : - (a UUID is ideal): "
    "sending it again never records twice",
)
Verdict = Literal[VERDICTS]  # type: ignore[valid-type]


def _as_utc(value: datetime) -> datetime:
    """The store keeps naive UTC; the API speaks RFC 3339 with an offset, both ways."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Timestamp = Annotated[datetime, AfterValidator(_as_utc)]

EARLIEST_SHOWN_AT = datetime(2000, 1, 1, tzinfo=UTC)
SHOWN_AT_AHEAD = timedelta(days=1)  # clocks differ; a day ahead is already not a real showing


def _shown_at(value: datetime) -> datetime:
    """A client's shown_at, in UTC, if a pair can have been shown then: from 2000 to a day after
    the server's clock. Out of it (including times UTC cannot hold, like year 9999 at -14:00)
    it is refused with a message, never an OverflowError (a plain-text 500)."""
    try:
        utc = _as_utc(value)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_SHOWN_AT <= utc <= datetime.now(UTC) + SHOWN_AT_AHEAD:
        given = value.isoformat().replace("+00:00", "Z") if value.tzinfo is not None else value.isoformat()
        raise PydanticCustomError(
            "shown_at_range",
            "{given} is outside the times a pair can have been shown (from 2000-01-01 to a day "
            "after the server's clock): send the shown_at that /pairs/next gave, or leave it out",
            {"given": given},
        )
    return utc


ShownAt = Annotated[datetime, AfterValidator(_shown_at)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    error: str = Field(description="what was wrong, for a person to read")
    problems: list[dict[str, Any]] = Field(
        default_factory=list, description="each problem with its place (source, line, field)"
    )


class Me(BaseModel):
    user: str
    role: Literal["admin", "annotator"]
    judged: int
    total: int


class ResponseOut(BaseModel):
    id: str
    content: str = Field(description="untrusted model output: render it as text")


class WordingOut(BaseModel):
    """How the pair's dataset asks for a verdict: show these to the person judging."""

    question: str = Field(description='the question to answer, e.g. "Which response is better?"')
    user_label: str = Field(description="what to call user turns of the prompt")
    assistant_label: str = Field(description="what to call earlier assistant turns")
    system_label: str = Field(description="what to call the system prompt")


class ShowingOut(BaseModel):
    showing_id: str
    pair_id: str
    item_id: str
    dataset: str
    prompt: list[dict[str, Any]] = Field(description="chat messages, system first, user last")
    left: ResponseOut
    right: ResponseOut
    shown_at: Timestamp
    wording: WordingOut = Field(description="the dataset's question and turn labels (plain text)")


class ProgressOut(BaseModel):
    judged: int
    total: int
    remaining: int


class NextPairOut(BaseModel):
    pair: ShowingOut | None = Field(description="null when there is nothing left for you to judge")
    progress: ProgressOut


class JudgmentIn(Strict):
    client_id: str = ClientId
    showing_id: str = Field(
        min_length=1, max_length=64, description="the `showing_id` /pairs/next gave you with this pair"
    )
    pair_id: str = Field(max_length=200, description="the pair's `pair_id` as shown")
    left_id: str = Field(max_length=200, description="the response shown on the left (its `id` as shown)")
    right_id: str = Field(max_length=200, description="the response shown on the right (its `id` as shown)")
    verdict: Verdict
    rationale: str = Field(default="", max_length=MAX_RATIONALE)
    strength: int | None = Field(
        default=None, ge=min(STRENGTHS), le=max(STRENGTHS), description="1 slightly, 2 clearly, 3 much better"
    )
    shown_at: ShownAt | None = Field(
        default=None,
        description="when the pair was shown (from /pairs/next); from 2000 to a day after the server's clock",
    )


class JudgmentOut(BaseModel):
    id: str
    annotator: str
    item_id: str
    pair_id: str
    left_id: str
    right_id: str
    verdict: Verdict
    preferred_id: str | None
    rationale: str
    strength: int | None
    shown_at: Timestamp | None
    submitted_at: Timestamp
    duplicate: bool = Field(description="true when this client id was already recorded: nothing new")


class UndoIn(Strict):
    client_id: str = ClientId


class EventOut(BaseModel):
    seq: int
    id: str
    kind: str
    annotator: str
    item_id: str | None
    pair_id: str | None
    left_id: str | None
    right_id: str | None
    verdict: str | None
    strength: int | None
    rationale: str | None
    supersedes: str | None
    shown_at: Timestamp | None
    submitted_at: Timestamp


class EventsOut(BaseModel):
    events: list[EventOut]
    next_after: int = Field(description="pass as `after` to read on from here")


class ItemsIn(Strict):
    dataset: str = Field(pattern=DATASET_NAME_PATTERN)
    format: Literal["auto", *FORMATS] = "auto"  # type: ignore[valid-type]
    records: list[dict[str, Any]] = Field(min_length=1, max_length=100_000)


class ImportOut(BaseModel):
    dataset: str
    records: int
    items_added: int
    responses_added: int
    pairs_added: int
    items_already_stored: int
    duplicate_records: int
    skipped: dict[str, int]


class ExportIn(Strict):
    kind: Literal[tuple(KINDS)]  # type: ignore[valid-type]  (exports/registry.py: every export there is)
    target: Literal[TARGETS]  # type: ignore[valid-type]
    datasets: list[str] = Field(default_factory=list, max_length=100)
    aggregate: Literal[AGGREGATIONS] = "majority"  # type: ignore[valid-type]
    min_agreement: float = Field(default=0.0, ge=0.0, le=1.0)
    ties: Literal[TIE_POLICIES] = "drop"  # type: ignore[valid-type]
    both_bad: Literal[BOTH_BAD_POLICIES] = "drop"  # type: ignore[valid-type]
    pairs: Literal[PAIR_MODES] = "all"  # type: ignore[valid-type]
    eval_fraction: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="share of records for an eval split; for `evals`, the share of judged items to sample",
    )
    all_items: bool = Field(default=False, description="`evals`: every judged item is the eval set")
    seed: int = Field(default=0, ge=0, le=2**31)
    allow_eval_overlap: bool = False
    allow_empty: bool = Field(
        default=False, description="write the export even if it holds no records (refused otherwise)"
    )
    standard: bool = False
    prompt_completion: bool = False
    parquet: bool = False
    yaml: bool = False


class ExportOut(BaseModel):
    export_id: str
    folder: str
    records: int
    files: dict[str, str] = Field(description="each written file's download path")
    manifest: dict[str, Any]


class ExportRefOut(BaseModel):
    export_id: str
    kind: str
    target: str
    out_dir: str = Field(description="the export's folder on the server")
    created_at: Timestamp


class EvalSetOut(ExportRefOut):
    items: int = Field(description="how many items this export registered as eval items")
    removed_at: Timestamp | None = Field(
        description="when its registrations were undone; null while in force"
    )


class HeldOut(ExportRefOut):
    items: int


class EvalSetRemovedOut(BaseModel):
    eval_set: EvalSetOut
    freed: int = Field(description="items no eval set in force holds any more: free for training")
    still_held: list[HeldOut] = Field(description="other eval sets in force that hold some of its items")


class TokenIn(Strict):
    user: str = Field(max_length=64)
    label: str = Field(default="", max_length=100)
    expires_in: str | None = Field(
        default=None,
        pattern=r"^[0-9]{1,6}[smhdw]$",
        description="how long the token works, e.g. 30d, 12h, 90m (s, m, h, d, w); null: until revoked",
    )


class TokenOut(BaseModel):
    id: str
    user: str
    label: str
    created_at: Timestamp
    revoked_at: Timestamp | None
    expires_at: Timestamp | None = Field(description="when it stops working; null: until revoked")
    created_by: str | None = Field(
        description='who made it: an admin\'s account name, or "cli:<os user>"; null if not recorded'
    )


class TokenCreated(TokenOut):
    token: str = Field(description="shown once: keep it secret")


class AccountOut(BaseModel):
    name: str
    role: Literal["admin", "annotator"]
    created_at: Timestamp
    disabled_at: Timestamp | None = Field(description="null while the account may sign in")


class PasswordIn(Strict):
    password: str = Field(max_length=1024, description="the new password, 8 characters or more")


class RoleIn(Strict):
    role: Literal["admin", "annotator"]


class AuditEventOut(BaseModel):
    seq: int
    changed_at: Timestamp
    actor: str | None = Field(description='who: an admin\'s account name, or "cli:<os user>"')
    action: Literal[
        "user.add",
        "user.disable",
        "user.enable",
        "user.password",
        "user.role",
        "token.create",
        "token.revoke",
    ]
    target: str = Field(description="the account name, or the token's id")
    detail: dict[str, Any] = Field(description='e.g. {"from": "annotator", "to": "admin"}; never a secret')


class AuditOut(BaseModel):
    events: list[AuditEventOut]
    next_after: int = Field(description="pass as `after` to read on from here")
