"""The REST API's judging calls, for every token: who am I, the next pair (blind), judge, undo,
read one's own judgments (admins: everyone's)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from apps.api_common import (
    ERRORS,
    PREFIX,
    ApiError,
    Caller,
    Ctx,
    json_answer,
    judgment_out,
    quick,
    reading,
    rfc3339,
)
from apps.api_models import ErrorOut, EventsOut, JudgmentIn, JudgmentOut, Me, NextPairOut, UndoIn
from labeling.desk import BlindClaim
from labeling.models import UserRole

router = APIRouter(prefix=PREFIX, tags=["judging"])


@router.get("/me", response_model=Me, responses=ERRORS)
async def me(ctx: Ctx, user: Caller) -> Me:
    """Who the token belongs to, and how far they are."""
    progress = await quick(ctx.desk, ctx.desk.progress, user.name)
    return Me(user=user.name, role=user.role.value, judged=progress.judged, total=progress.total)


@router.get("/pairs/next", response_model=NextPairOut, responses=ERRORS)
async def next_pair(ctx: Ctx, user: Caller) -> Response:
    """The next pair for you to judge, sides shuffled, models hidden; `pair` is null when done.
    Its ids are aliases that only this desk can match to the stored ones (blind judging)."""
    showing = await reading(ctx, ctx.desk.next_showing, user.name)
    progress = await quick(ctx.desk, ctx.desk.progress, user.name)
    shown = None
    if showing is not None:
        shown = {
            "showing_id": showing.showing_id,
            "pair_id": ctx.blind.pair(showing.pair.id),
            "item_id": showing.item.id,
            "dataset": showing.item.dataset,
            "prompt": [message.to_dict() for message in showing.item.prompt],
            "left": {"id": ctx.blind.response(showing.left.id), "content": showing.left.content},
            "right": {"id": ctx.blind.response(showing.right.id), "content": showing.right.content},
            "shown_at": rfc3339(showing.shown_at),
            "wording": asdict(showing.wording),
        }
    counts = {"judged": progress.judged, "total": progress.total, "remaining": progress.remaining}
    return json_answer({"pair": shown, "progress": counts})


@router.post(
    "/judgments",
    response_model=JudgmentOut,
    status_code=201,
    responses={
        **ERRORS,
        200: {"model": JudgmentOut, "description": "already recorded"},
        409: {
            "model": ErrorOut,
            "description": "not a showing given to you, or not its pair and sides; the pair has "
            "all the judgments the overlap asks for; or the client id was used for another judgment",
        },
    },
)
async def submit(ctx: Ctx, body: JudgmentIn, user: Caller) -> Response:
    """Record your verdict on a pair /pairs/next showed you, named by its `showing_id`, with
    its pair and sides as shown. The same client_id again records nothing new."""
    claim = BlindClaim(body.pair_id, body.left_id, body.right_id)
    committed = await quick(
        ctx.desk,
        ctx.desk.submit_blind,
        user.name,
        body.showing_id,
        claim,
        body.verdict,
        client_id=body.client_id,
        rationale=body.rationale,
        strength=body.strength,
    )
    recorded = await asyncio.wrap_future(committed)  # the event loop goes on meanwhile
    out = judgment_out(recorded.judgment, recorded.duplicate, ctx.blind)
    return json_answer(out, status=200 if recorded.duplicate else 201)


@router.post(
    "/undo",
    response_model=JudgmentOut,
    responses={**ERRORS, 409: {"model": ErrorOut, "description": "nothing left to undo"}},
)
async def undo(ctx: Ctx, body: UndoIn, user: Caller) -> Response:
    """Withdraw your latest judgment still in force; returns it (its pair is yours again)."""
    undone = await asyncio.wrap_future(await quick(ctx.desk, ctx.desk.submit_undo, user.name, body.client_id))
    return json_answer(judgment_out(undone, duplicate=False, blind=ctx.blind))


@router.get("/judgments", response_model=EventsOut, responses=ERRORS)
def judgments(
    ctx: Ctx,
    user: Caller,
    after: Annotated[int, Query(ge=0, description="read events after this sequence number")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    annotator: Annotated[str | None, Query(max_length=64, description="admins: one annotator's")] = None,
) -> dict[str, Any]:
    """The judgment log (judgments and undos) oldest first. Annotators read their own only,
    with the ids they were shown (aliases); admins read the stored ids."""
    if user.role is not UserRole.ADMIN:
        if annotator not in (None, user.name):
            raise ApiError(403, "annotators can read their own judgments only")
        annotator = user.name
    events = ctx.desk.events(after, limit, annotator)
    if user.role is not UserRole.ADMIN:
        events = [ctx.blind.event(event) for event in events]
    return {"events": events, "next_after": events[-1]["seq"] if events else after}
