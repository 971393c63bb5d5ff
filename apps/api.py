"""The REST API for scripts and integrations: the same Desk as the Gradio screens, behind
per-user API tokens (`Authorization: Bearer pd_...`; `prefdesk tokens create USER`).

Annotators get pairs, judge, undo and read their own judgments; admins also add items, read
everyone's judgments and stats, export, and manage tokens. Errors are JSON: {"error": "..."}.
OpenAPI: /api/openapi.json, docs at /api/docs.
"""

import math
import re
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from apps.api_models import (
    AccountOut,
    AuditOut,
    ErrorOut,
    EvalSetOut,
    EvalSetRemovedOut,
    EventsOut,
    ExportIn,
    ExportOut,
    ImportOut,
    ItemsIn,
    JudgmentIn,
    JudgmentOut,
    Me,
    NextPairOut,
    PasswordIn,
    RoleIn,
    TokenCreated,
    TokenIn,
    TokenOut,
    UndoIn,
)
from exports import downloads, eval_registry
from exports.run import ExportOptions, run_export
from labeling import audit, tokens, users
from labeling.blind import Blinder
from labeling.clock import parse_duration, utc_now
from labeling.desk import BlindClaim, Desk
from labeling.errors import (
    IdempotencyConflict,
    ImportRejected,
    LastAdmin,
    NoSuchEvalSet,
    NoSuchUser,
    NothingToUndo,
    PrefdeskError,
    StaleShowing,
    TooManyJudgments,
    UserExists,
)
from labeling.ingest import import_records
from labeling.models import EvalSet, ExportRef, PairJudgment, User, UserRole
from labeling.stats import desk_stats
from store.db import Store
from store.errors import StoreError, StoreWriteError
from store.tokens import StoredToken
from store.users import Account

PREFIX = "/api/v1"
DOCS_ASSETS = Path(__file__).parent / "static" / "swagger-ui"  # vendored: see its README.md
CALLER_SCOPE_KEY = "prefdesk.caller"  # the token's user, when the edge (apps/edge.py) checked it
NO_TOKEN = "send an API token: `Authorization: Bearer pd_...` (`prefdesk tokens create`)"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_ERRORS: dict[int | str, dict[str, Any]] = {
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
    microseconds), or in a worker thread while a long write holds the store."""
    if store.open_transactions:
        return await run_in_threadpool(tokens.check_token, store, token)
    return tokens.check_token(store, token)


def _status_of(exc: PrefdeskError) -> int:
    """The HTTP status for a domain error: conflicts with the stored state are 409."""
    if isinstance(exc, StaleShowing | IdempotencyConflict | NothingToUndo | UserExists | LastAdmin):
        return 409
    if isinstance(exc, NoSuchUser | tokens.NoSuchToken | NoSuchEvalSet):
        return 404
    if isinstance(exc, TooManyJudgments):
        return 429
    return 422  # ImportRejected, JudgmentError, BadUserInput, ExportError: the input was refused


def _error(status: int, message: str, problems: list[dict[str, Any]] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "problems": problems or []}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        response = _error(exc.status, exc.message, exc.problems)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(PrefdeskError)
    async def domain_error(_: Request, exc: PrefdeskError) -> JSONResponse:
        problems = []
        if isinstance(exc, ImportRejected):
            problems = [
                {"source": p.source, "line": p.line, "field": p.field, "message": p.message}
                for p in exc.problems
            ]
        response = _error(_status_of(exc), str(exc), problems)
        if isinstance(exc, TooManyJudgments):
            response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        return response

    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError) -> JSONResponse:
        if isinstance(exc, StoreWriteError):
            return _error(503, f"{exc}. Send the same request again once the disk has room or is writable.")
        return _error(500, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
            for error in exc.errors()
        ]
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
        if any(error.get("type") == "json_invalid" for error in exc.errors()):
            return _error(400, f"the body is not valid JSON ({summary}): send UTF-8 JSON", problems)
        return _error(422, f"invalid request: {summary}", problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # Starlette names one route's methods; a path may have several
            methods = {
                method
                for route in app.routes
                if isinstance(route, APIRoute) and route.path_regex.match(request.url.path)
                for method in route.methods
            }
            response.headers["Allow"] = ", ".join(sorted(methods))
        return response


def _install_docs(app: FastAPI) -> None:
    """/api/docs, where admins paste their tokens, runs Swagger UI from files the desk serves
    (apps/static/swagger-ui, a pinned copy), never from a CDN at a floating version."""
    app.mount("/api/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/api/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - REST API",
            swagger_js_url=f"{root}/api/docs-assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/api/docs-assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/api/docs-assets/favicon-32x32.png",
            oauth2_redirect_url=None,
            swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from another host
        )


def _rfc3339(value: datetime | None) -> str | None:
    """Stored naive UTC as the API's RFC 3339 (what Timestamp in api_models produces)."""
    return None if value is None else value.isoformat() + "Z"


def _json(content: dict[str, Any], status: int = 200) -> Response:
    """The two judging answers, encoded directly: they are on every judgment's path, and
    FastAPI's validate-then-serialise of a response model cost more than the rest of the call.
    Their shapes are the documented models' (the schemathesis test checks every answer)."""
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _judgment_dict(judgment: PairJudgment, duplicate: bool, blind: Blinder) -> dict[str, Any]:
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
        "shown_at": _rfc3339(judgment.shown_at),
        "submitted_at": _rfc3339(judgment.submitted_at),
        "duplicate": duplicate,
    }


def _token_out(info: StoredToken) -> dict[str, Any]:
    return {
        "id": info.id,
        "user": info.user_name,
        "label": info.label,
        "created_at": info.created_at,
        "revoked_at": info.revoked_at,
        "expires_at": info.expires_at,
        "created_by": info.created_by,
    }


def _account_out(account: Account) -> dict[str, Any]:
    return {
        "name": account.name,
        "role": account.role.value,
        "created_at": account.created_at,
        "disabled_at": account.disabled_at,
    }


def _eval_set_out(eval_set: EvalSet) -> dict[str, Any]:
    return {**_export_ref_out(eval_set.export), "items": eval_set.items, "removed_at": eval_set.removed_at}


def _export_ref_out(export: ExportRef) -> dict[str, Any]:
    return {
        "export_id": export.id,
        "kind": export.kind,
        "target": export.target,
        "out_dir": export.out_dir,
        "created_at": export.created_at,
    }


def build_api(desk: Desk, exports_dir: Path, now: Callable[[], datetime] = utc_now) -> FastAPI:
    store = desk.store
    blind = desk.blind
    app = FastAPI(
        title="prefdesk",
        summary="Judge LLM responses and pull training data: the REST API of a prefdesk server.",
        version="1",
        openapi_url="/api/openapi.json",
        docs_url=None,  # served below from the desk's own copy of Swagger UI
        redoc_url=None,
    )
    _install_error_handlers(app)
    _install_docs(app)
    bearer = HTTPBearer(auto_error=False, description="an API token: `prefdesk tokens create USER`")

    async def caller(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
    ) -> User:
        checked = request.scope.get(CALLER_SCOPE_KEY)
        if isinstance(checked, User):  # the edge checked the token before the body was read
            return checked
        if credentials is None:
            raise ApiError(401, NO_TOKEN)
        checked = await authenticate(store, credentials.credentials)
        if checked.user is None:
            raise ApiError(401, checked.refusal)
        return checked.user

    async def admin(user: Annotated[User, Depends(caller)]) -> User:
        if user.role is not UserRole.ADMIN:
            raise ApiError(403, needs_admin(user))
        return user

    async def quick(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a short desk call (a few ms) on the event loop: a hop to a worker thread costs more
        than the call (measured: 75 -> 122 judgments/s at 8 annotators). While a long write holds
        the store (an import), wait for it in a worker thread instead, not on the event loop."""
        if store.open_transactions:
            return await run_in_threadpool(function, *args, **kwargs)
        return function(*args, **kwargs)

    Caller = Annotated[User, Depends(caller)]
    Admin = Annotated[User, Depends(admin)]

    @app.get(f"{PREFIX}/me", response_model=Me, responses=_ERRORS, tags=["judging"])
    async def me(user: Caller) -> Me:
        """Who the token belongs to, and how far they are."""
        progress = await quick(desk.progress, user.name)
        return Me(user=user.name, role=user.role.value, judged=progress.judged, total=progress.total)

    @app.get(f"{PREFIX}/pairs/next", response_model=NextPairOut, responses=_ERRORS, tags=["judging"])
    async def next_pair(user: Caller) -> Response:
        """The next pair for you to judge, sides shuffled, models hidden; `pair` is null when done.
        Its ids are aliases that only this desk can match to the stored ones (blind judging)."""
        showing = await quick(desk.next_showing, user.name)
        progress = await quick(desk.progress, user.name)
        shown = None
        if showing is not None:
            shown = {
                "showing_id": showing.showing_id,
                "pair_id": blind.pair(showing.pair.id),
                "item_id": showing.item.id,
                "dataset": showing.item.dataset,
                "prompt": [message.to_dict() for message in showing.item.prompt],
                "left": {"id": blind.response(showing.left.id), "content": showing.left.content},
                "right": {"id": blind.response(showing.right.id), "content": showing.right.content},
                "shown_at": _rfc3339(showing.shown_at),
                "wording": asdict(showing.wording),
            }
        counts = {"judged": progress.judged, "total": progress.total, "remaining": progress.remaining}
        return _json({"pair": shown, "progress": counts})

    @app.post(
        f"{PREFIX}/judgments",
        response_model=JudgmentOut,
        status_code=201,
        responses={
            **_ERRORS,
            200: {"model": JudgmentOut, "description": "already recorded"},
            409: {
                "model": ErrorOut,
                "description": "not a showing given to you, or not its pair and sides; the pair has "
                "all the judgments the overlap asks for; or the client id was used for another judgment",
            },
        },
        tags=["judging"],
    )
    async def submit(body: JudgmentIn, user: Caller) -> Response:
        """Record your verdict on a pair /pairs/next showed you, named by its `showing_id`, with
        its pair and sides as shown. The same client_id again records nothing new."""
        claim = BlindClaim(body.pair_id, body.left_id, body.right_id)
        recorded = await quick(
            desk.submit_blind,
            user.name,
            body.showing_id,
            claim,
            body.verdict,
            client_id=body.client_id,
            rationale=body.rationale,
            strength=body.strength,
        )
        out = _judgment_dict(recorded.judgment, recorded.duplicate, blind)
        return _json(out, status=200 if recorded.duplicate else 201)

    @app.post(
        f"{PREFIX}/undo",
        response_model=JudgmentOut,
        responses={**_ERRORS, 409: {"model": ErrorOut, "description": "nothing left to undo"}},
        tags=["judging"],
    )
    async def undo(body: UndoIn, user: Caller) -> Response:
        """Withdraw your latest judgment still in force; returns it (its pair is yours again)."""
        undone = await quick(desk.undo, user.name, body.client_id)
        return _json(_judgment_dict(undone, duplicate=False, blind=blind))

    @app.get(f"{PREFIX}/judgments", response_model=EventsOut, responses=_ERRORS, tags=["judging"])
    def judgments(
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
        events = desk.events(after, limit, annotator)
        if user.role is not UserRole.ADMIN:
            events = [blind.event(event) for event in events]
        return {"events": events, "next_after": events[-1]["seq"] if events else after}

    @app.post(f"{PREFIX}/items", response_model=ImportOut, status_code=201, responses=_ERRORS, tags=["admin"])
    def add_items(body: ItemsIn, _: Admin) -> dict[str, Any]:
        """Add items and responses, all or nothing, with the same checks and messages as
        `prefdesk import` (each problem says which record and field)."""
        report = import_records(store, body.records, dataset=body.dataset, fmt=body.format, source="records")
        return {
            "dataset": report.dataset,
            "records": report.records,
            "items_added": report.items_added,
            "responses_added": report.responses_added,
            "pairs_added": report.pairs_added,
            "items_already_stored": report.items_already_stored,
            "duplicate_records": report.duplicate_records,
            "skipped": report.skipped,
        }

    @app.get(f"{PREFIX}/stats", responses=_ERRORS, tags=["admin"])
    def stats(_: Admin) -> dict[str, Any]:
        """Counts of items, pairs and judgments, per verdict and per annotator."""
        return desk_stats(store)

    @app.post(
        f"{PREFIX}/exports", response_model=ExportOut, status_code=201, responses=_ERRORS, tags=["admin"]
    )
    def export(body: ExportIn, _: Admin) -> dict[str, Any]:
        """Write a training or eval set on the server (under its exports folder); download its
        files from the paths in `files`."""
        folder = f"{body.kind}-{body.target}-{now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        options = ExportOptions.from_flags(body.model_dump())
        manifest = run_export(
            store, exports_dir / folder, kind=body.kind, target=body.target, options=options, now=now
        )
        names = [*manifest["files"].values(), "manifest.json", "README.md"]
        files = {
            name: f"{PREFIX}/exports/{folder}/{name}"
            for name in names
            if (exports_dir / folder / name).is_file()
        }
        manifest_json = orjson.loads(orjson.dumps(manifest, default=str))
        return {
            "export_id": manifest["export_id"],
            "folder": folder,
            "records": manifest["records"],
            "files": files,
            "manifest": manifest_json,
        }

    @app.get(
        f"{PREFIX}/exports/{{folder}}/{{name}}",
        response_class=FileResponse,
        responses={**_ERRORS, 404: {"model": ErrorOut}},
        tags=["admin"],
    )
    def export_file(folder: str, name: str, _: Admin) -> FileResponse:
        """One file of an export made through this API."""
        if not (_SAFE_NAME.match(folder) and _SAFE_NAME.match(name)):
            raise ApiError(404, "no such export file")
        path = downloads.export_file(store, exports_dir, folder, name)
        if path is None:
            raise ApiError(404, f"no file {name!r} in an export {folder!r} made by this desk")
        return FileResponse(path, filename=name)

    @app.get(f"{PREFIX}/eval-sets", response_model=list[EvalSetOut], responses=_ERRORS, tags=["admin"])
    def eval_sets(_: Admin) -> list[dict[str, Any]]:
        """Every eval set (an `evals` export, or a training export's eval split), oldest first:
        the items training exports keep out while it is in force. Removed ones say when."""
        return [_eval_set_out(eval_set) for eval_set in eval_registry.list_eval_sets(store)]

    @app.get(
        f"{PREFIX}/eval-sets/{{export_id}}/items",
        response_model=list[str],
        responses={**_ERRORS, 404: {"model": ErrorOut, "description": "no such eval set"}},
        tags=["admin"],
    )
    def eval_set_items(export_id: str, _: Admin) -> list[str]:
        """The item ids an eval set registered (`export_id`: the id, or a unique start of it)."""
        eval_set = eval_registry.find_eval_set(store, export_id)
        return eval_registry.eval_set_items(store, eval_set.export.id)

    @app.delete(
        f"{PREFIX}/eval-sets/{{export_id}}",
        response_model=EvalSetRemovedOut,
        responses={**_ERRORS, 404: {"model": ErrorOut, "description": "no such eval set"}},
        tags=["admin"],
    )
    def remove_eval_set(export_id: str, _: Admin) -> dict[str, Any]:
        """Undo an eval set's registrations: its items may be trained on again, unless another
        eval set in force holds them. The removal is recorded; the export's files stay."""
        removal = eval_registry.remove_eval_set(store, export_id, now=now)
        removed = eval_registry.find_eval_set(store, removal.eval_set.export.id)
        return {
            "eval_set": _eval_set_out(removed),
            "freed": removal.freed,
            "still_held": [{**_export_ref_out(e), "items": n} for e, n in removal.still_held],
        }

    @app.post(
        f"{PREFIX}/tokens",
        response_model=TokenCreated,
        status_code=201,
        responses={**_ERRORS, 404: {"model": ErrorOut, "description": "no such user"}},
        tags=["admin"],
    )
    def create_token(body: TokenIn, by: Admin) -> dict[str, Any]:
        """Make an API token for a user (optionally expiring); the token is in this response only."""
        expires_in = None if body.expires_in is None else parse_duration(body.expires_in)
        token, info = tokens.create_token(
            store, body.user, body.label, now, expires_in=expires_in, by=by.name
        )
        return {**_token_out(info), "token": token}

    @app.get(f"{PREFIX}/tokens", response_model=list[TokenOut], responses=_ERRORS, tags=["admin"])
    def list_tokens(_: Admin) -> list[dict[str, Any]]:
        """Every token's id, owner, state and maker (never a secret)."""
        return [_token_out(info) for info in tokens.list_tokens(store)]

    @app.delete(
        f"{PREFIX}/tokens/{{token_id}}",
        response_model=TokenOut,
        responses={**_ERRORS, 404: {"model": ErrorOut, "description": "no such token"}},
        tags=["admin"],
    )
    def revoke_token(token_id: str, by: Admin) -> dict[str, Any]:
        """Stop a token from working, at once."""
        return _token_out(tokens.revoke_token(store, token_id, now, by=by.name))

    _install_account_routes(app, desk, Admin, now)
    return app


def _install_account_routes(app: FastAPI, desk: Desk, Admin: Any, now: Callable[[], datetime]) -> None:
    """Accounts over time and the audit log, for admins. A change applies at the account's next
    request (its browser sessions and tokens included) and is recorded with the admin's name."""
    store = desk.store
    no_user = {**_ERRORS, 404: {"model": ErrorOut, "description": "no such user"}}
    last_admin: dict[int | str, dict[str, Any]] = {
        409: {"model": ErrorOut, "description": "it would leave no enabled admin"}
    }

    @app.get(f"{PREFIX}/users", response_model=list[AccountOut], responses=_ERRORS, tags=["admin"])
    def list_accounts(_: Admin) -> list[dict[str, Any]]:
        """Every account: role, when it was made, and whether it is disabled (never a password)."""
        return [_account_out(account) for account in users.list_accounts(store)]

    @app.post(
        f"{PREFIX}/users/{{name}}/disable",
        response_model=AccountOut,
        responses={**no_user, **last_admin},
        tags=["admin"],
    )
    def disable(name: str, by: Admin) -> dict[str, Any]:
        """The account can no longer sign in; its sessions and tokens stop working at once (its
        judgments stay). Disabling a disabled account changes nothing."""
        return _account_out(users.disable_user(store, name, now, by=by.name).after)

    @app.post(f"{PREFIX}/users/{{name}}/enable", response_model=AccountOut, responses=no_user, tags=["admin"])
    def enable(name: str, by: Admin) -> dict[str, Any]:
        """The account may sign in again; its unrevoked, unexpired tokens work again."""
        return _account_out(users.enable_user(store, name, now, by=by.name).after)

    @app.put(
        f"{PREFIX}/users/{{name}}/password", response_model=AccountOut, responses=no_user, tags=["admin"]
    )
    def set_password(name: str, body: PasswordIn, by: Admin) -> dict[str, Any]:
        """A new password (8 characters or more). The account's browser sessions end; its API
        tokens do not (revoke them to end them)."""
        return _account_out(users.set_password(store, name, body.password, now, by=by.name))

    @app.put(
        f"{PREFIX}/users/{{name}}/role",
        response_model=AccountOut,
        responses={**no_user, **last_admin},
        tags=["admin"],
    )
    def set_role(name: str, body: RoleIn, by: Admin) -> dict[str, Any]:
        """Make an account admin or annotator, from its next request on."""
        return _account_out(users.set_role(store, name, body.role, now, by=by.name).after)

    @app.get(f"{PREFIX}/audit", response_model=AuditOut, responses=_ERRORS, tags=["admin"])
    def audit_log(
        _: Admin,
        after: Annotated[int, Query(ge=0, description="read events after this sequence number")] = 0,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> dict[str, Any]:
        """Account and token changes, oldest first: who (`actor`), what, to whom, when."""
        events = audit.events_after(store, after, limit)
        return {
            "events": [asdict(event) for event in events],
            "next_after": events[-1].seq if events else after,
        }
