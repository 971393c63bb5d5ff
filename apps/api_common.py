"""What the REST API's routers share: the services a request acts on (a dependency), who is
calling (the token), errors, and the shapes of answers. The routers: apps/api_judging.py
(annotators' calls) and apps/api_admin.py (admins'); apps/api.py assembles them."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import anyio
import orjson
from fastapi import Depends, Request, Security
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from apps.api_models import ErrorOut
from labeling import tokens
from labeling.blind import Blinder
from labeling.desk import Desk
from labeling.models import Account, EvalSet, ExportRef, PairJudgment, StoredToken, User, UserRole
from store.db import Store

PREFIX = "/api/v1"
CALLER_SCOPE_KEY = "prefdesk.caller"  # the token's user, when the edge (apps/edge.py) checked it
NO_TOKEN = "send an API token: `Authorization: Bearer pd_...` (`prefdesk tokens create`)"
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in {
        400: "the body could not be read (not UTF-8 JSON)",
        401: "no token, or a token that is not valid, was revoked or expired, or whose account is disabled",
        403: "your role may not do this",
        413: "the body is larger than this route accepts (the message names the limit)",
        422: "the request was not valid: `error` says what and where",
        429: "too many judgments or undos at once: wait the seconds in `Retry-After`",
        503: "the disk is full or read-only: nothing was written; send the same request again later",
    }.items()
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, problems: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.problems = status, message, problems or []


def needs_admin(user: User) -> str:
    return f"{user.name!r} is an annotator: this needs an admin's token"


async def authenticate(store: Store, token: str) -> tokens.TokenCheck:
    """The token's user, or why it does not work: checked on the event loop (a cached lookup,
    microseconds; a read otherwise, and reads never wait for the store's writer)."""
    return tokens.check_token(store, token)


def rfc3339(value: datetime | None) -> str | None:
    """Stored naive UTC as the API's RFC 3339 (what Timestamp in api_models produces)."""
    return None if value is None else value.isoformat() + "Z"


def json_answer(content: dict[str, Any], status: int = 200) -> Response:
    """The two judging answers, encoded directly: they are on every judgment's path, and
    FastAPI's validate-then-serialise of a response model cost more than the rest of the call.
    Their shapes are the documented models' (the schemathesis test checks every answer)."""
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def judgment_out(judgment: PairJudgment, duplicate: bool, blind: Blinder) -> dict[str, Any]:
    """A judgment as the annotator who made it sees it: the ids they were shown (aliases)."""
    preferred = judgment.preferred_id
    return {
        "id": judgment.id,
        "annotator": judgment.annotator,
        "item_id": judgment.item_id,
        "pair_id": blind.pair(judgment.pair_id),
        "left_id": blind.response(judgment.left_id),
        "right_id": blind.response(judgment.right_id),
        "verdict": judgment.verdict.value,
        "preferred_id": blind.response_or_none(preferred),
        "rationale": judgment.rationale,
        "strength": judgment.strength,
        "shown_at": rfc3339(judgment.shown_at),
        "submitted_at": rfc3339(judgment.submitted_at),
        "duplicate": duplicate,
    }


def token_out(info: StoredToken) -> dict[str, Any]:
    return {
        "id": info.id,
        "user": info.user_name,
        "label": info.label,
        "created_at": info.created_at,
        "revoked_at": info.revoked_at,
        "expires_at": info.expires_at,
        "created_by": info.created_by,
    }


def account_out(account: Account) -> dict[str, Any]:
    return {
        "name": account.name,
        "role": account.role.value,
        "created_at": account.created_at,
        "disabled_at": account.disabled_at,
    }


def eval_set_out(eval_set: EvalSet) -> dict[str, Any]:
    return {**export_ref_out(eval_set.export), "items": eval_set.items, "removed_at": eval_set.removed_at}


def export_ref_out(export: ExportRef) -> dict[str, Any]:
    return {
        "export_id": export.id,
        "kind": export.kind,
        "target": export.target,
        "out_dir": export.out_dir,
        "created_at": export.created_at,
    }


# Worker threads for the desk's reads of the store (a pair's texts). A few: anyio's default of
# 40 let 32 annotators' requests spread over 25 threads, each with a malloc arena of its own.
READER_THREADS = 4


@dataclass(frozen=True)
class Services:
    """What the API's requests act on: one desk (and its store), where exports go, the clock."""

    desk: Desk
    exports_dir: Path
    now: Callable[[], datetime]
    readers: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(READER_THREADS))

    @property
    def store(self) -> Store:
        return self.desk.store

    @property
    def blind(self) -> Blinder:
        return self.desk.blind


SERVICES_STATE_KEY = "prefdesk"


async def services(request: Request) -> Services:
    """The app's services (set by build_api). Async: a plain function dependency would cost a
    worker-thread hop on every request."""
    found: Services = getattr(request.app.state, SERVICES_STATE_KEY)
    return found


bearer = HTTPBearer(auto_error=False, description="an API token: `prefdesk tokens create USER`")


async def caller(
    request: Request,
    ctx: Annotated[Services, Depends(services)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> User:
    checked = request.scope.get(CALLER_SCOPE_KEY)
    if isinstance(checked, User):  # the edge checked the token before the body was read
        return checked
    if credentials is None:
        raise ApiError(401, NO_TOKEN)
    found = await authenticate(ctx.store, credentials.credentials)
    if found.user is None:
        raise ApiError(401, found.refusal)
    return found.user


async def admin(user: Annotated[User, Depends(caller)]) -> User:
    if user.role is not UserRole.ADMIN:
        raise ApiError(403, needs_admin(user))
    return user


Ctx = Annotated[Services, Depends(services)]
Caller = Annotated[User, Depends(caller)]
Admin = Annotated[User, Depends(admin)]


async def quick(desk: Desk, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a short desk call that only reads the index in memory (a few microseconds) on the
    event loop: a hop to a worker thread would cost more than the call. When the index must
    first read the store again (after an import), that read runs in a worker thread instead.
    Writes never run here: they are the writer's."""
    if desk.index.must_read_store():
        return await run_in_threadpool(function, *args, **kwargs)
    return function(*args, **kwargs)


async def reading(ctx: Services, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a desk call that reads the store (showing a pair: its texts) on one of the few reader
    threads. DuckDB lets go of the GIL while it reads, so such reads overlap each other and the
    event loop's work: with the read on the loop, 8 annotators judged fewer pairs a second for
    more server CPU each (docs/performance.md, "Serving: memory and threads")."""
    return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs), limiter=ctx.readers)
