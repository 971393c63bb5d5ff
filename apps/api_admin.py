"""The REST API's admin calls: items, stats, exports and their files, eval sets, tokens,
accounts and the audit log. Each needs an admin's token."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from apps.api_common import (
    ERRORS,
    PREFIX,
    SAFE_NAME,
    Admin,
    ApiError,
    Ctx,
    account_out,
    eval_set_out,
    export_ref_out,
    token_out,
)
from apps.api_models import (
    AccountOut,
    AuditOut,
    ErrorOut,
    EvalSetOut,
    EvalSetRemovedOut,
    ExportIn,
    ExportOut,
    ImportOut,
    ItemsIn,
    PasswordIn,
    RoleIn,
    TokenCreated,
    TokenIn,
    TokenOut,
)
from exports import downloads, eval_registry
from exports.run import ExportOptions, run_export
from labeling import audit, tokens, users
from labeling.clock import parse_duration
from labeling.ingest import import_records
from labeling.stats import desk_stats

router = APIRouter(prefix=PREFIX, tags=["admin"])
NO_USER: dict[int | str, dict[str, Any]] = {**ERRORS, 404: {"model": ErrorOut, "description": "no such user"}}
LAST_ADMIN: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "it would leave no enabled admin"}
}


@router.post("/items", response_model=ImportOut, status_code=201, responses=ERRORS)
def add_items(ctx: Ctx, body: ItemsIn, _: Admin) -> dict[str, Any]:
    """Add items and responses, all or nothing, with the same checks and messages as
    `prefdesk import` (each problem says which record and field)."""
    report = import_records(ctx.store, body.records, dataset=body.dataset, fmt=body.format, source="records")
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


@router.get("/stats", responses=ERRORS)
def stats(ctx: Ctx, _: Admin) -> dict[str, Any]:
    """Counts of items, pairs and judgments, per verdict and per annotator."""
    return desk_stats(ctx.store)


@router.post("/exports", response_model=ExportOut, status_code=201, responses=ERRORS)
def export(ctx: Ctx, body: ExportIn, _: Admin) -> dict[str, Any]:
    """Write a training or eval set on the server (under its exports folder); download its
    files from the paths in `files`."""
    folder = f"{body.kind}-{body.target}-{ctx.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    options = ExportOptions.from_flags(body.model_dump())
    manifest = run_export(
        ctx.store, ctx.exports_dir / folder, kind=body.kind, target=body.target, options=options, now=ctx.now
    )
    names = [*manifest["files"].values(), "manifest.json", "README.md"]
    files = {
        name: f"{PREFIX}/exports/{folder}/{name}"
        for name in names
        if (ctx.exports_dir / folder / name).is_file()
    }
    manifest_json = orjson.loads(orjson.dumps(manifest, default=str))
    return {
        "export_id": manifest["export_id"],
        "folder": folder,
        "records": manifest["records"],
        "files": files,
        "manifest": manifest_json,
    }


@router.get(
    "/exports/{folder}/{name}",
    response_class=FileResponse,
    responses={**ERRORS, 404: {"model": ErrorOut}},
)
def export_file(ctx: Ctx, folder: str, name: str, _: Admin) -> FileResponse:
    """One file of an export made through this API."""
    if not (SAFE_NAME.match(folder) and SAFE_NAME.match(name)):
        raise ApiError(404, "no such export file")
    path = downloads.export_file(ctx.store, ctx.exports_dir, folder, name)
    if path is None:
        raise ApiError(404, f"no file {name!r} in an export {folder!r} made by this desk")
    return FileResponse(path, filename=name)


@router.get("/eval-sets", response_model=list[EvalSetOut], responses=ERRORS)
def eval_sets(ctx: Ctx, _: Admin) -> list[dict[str, Any]]:
    """Every eval set (an `evals` export, or a training export's eval split), oldest first:
    the items training exports keep out while it is in force. Removed ones say when."""
    return [eval_set_out(eval_set) for eval_set in eval_registry.list_eval_sets(ctx.store)]


@router.get(
    "/eval-sets/{export_id}/items",
    response_model=list[str],
    responses={**ERRORS, 404: {"model": ErrorOut, "description": "no such eval set"}},
)
def eval_set_items(ctx: Ctx, export_id: str, _: Admin) -> list[str]:
    """The item ids an eval set registered (`export_id`: the id, or a unique start of it)."""
    eval_set = eval_registry.find_eval_set(ctx.store, export_id)
    return eval_registry.eval_set_items(ctx.store, eval_set.export.id)


@router.delete(
    "/eval-sets/{export_id}",
    response_model=EvalSetRemovedOut,
    responses={**ERRORS, 404: {"model": ErrorOut, "description": "no such eval set"}},
)
def remove_eval_set(ctx: Ctx, export_id: str, _: Admin) -> dict[str, Any]:
    """Undo an eval set's registrations: its items may be trained on again, unless another
    eval set in force holds them. The removal is recorded; the export's files stay."""
    removal = eval_registry.remove_eval_set(ctx.store, export_id, now=ctx.now)
    removed = eval_registry.find_eval_set(ctx.store, removal.eval_set.export.id)
    return {
        "eval_set": eval_set_out(removed),
        "freed": removal.freed,
        "still_held": [{**export_ref_out(e), "items": n} for e, n in removal.still_held],
    }


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=201,
    responses={**ERRORS, 404: {"model": ErrorOut, "description": "no such user"}},
)
def create_token(ctx: Ctx, body: TokenIn, by: Admin) -> dict[str, Any]:
    """Make an API token for a user (optionally expiring); the token is in this response only."""
    expires_in = None if body.expires_in is None else parse_duration(body.expires_in)
    token, info = tokens.create_token(
        ctx.store, body.user, body.label, ctx.now, expires_in=expires_in, by=by.name
    )
    return {**token_out(info), "token": token}


@router.get("/tokens", response_model=list[TokenOut], responses=ERRORS)
def list_tokens(ctx: Ctx, _: Admin) -> list[dict[str, Any]]:
    """Every token's id, owner, state and maker (never a secret)."""
    return [token_out(info) for info in tokens.list_tokens(ctx.store)]


@router.delete(
    "/tokens/{token_id}",
    response_model=TokenOut,
    responses={**ERRORS, 404: {"model": ErrorOut, "description": "no such token"}},
)
def revoke_token(ctx: Ctx, token_id: str, by: Admin) -> dict[str, Any]:
    """Stop a token from working, at once."""
    return token_out(tokens.revoke_token(ctx.store, token_id, ctx.now, by=by.name))


@router.get("/users", response_model=list[AccountOut], responses=ERRORS)
def list_accounts(ctx: Ctx, _: Admin) -> list[dict[str, Any]]:
    """Every account: role, when it was made, and whether it is disabled (never a password)."""
    return [account_out(account) for account in users.list_accounts(ctx.store)]


@router.post(
    "/users/{name}/disable",
    response_model=AccountOut,
    responses={**NO_USER, **LAST_ADMIN},
)
def disable(ctx: Ctx, name: str, by: Admin) -> dict[str, Any]:
    """The account can no longer sign in; its sessions and tokens stop working at once (its
    judgments stay). Disabling a disabled account changes nothing."""
    return account_out(users.disable_user(ctx.store, name, ctx.now, by=by.name).after)


@router.post("/users/{name}/enable", response_model=AccountOut, responses=NO_USER)
def enable(ctx: Ctx, name: str, by: Admin) -> dict[str, Any]:
    """The account may sign in again; its unrevoked, unexpired tokens work again."""
    return account_out(users.enable_user(ctx.store, name, ctx.now, by=by.name).after)


@router.put("/users/{name}/password", response_model=AccountOut, responses=NO_USER)
def set_password(ctx: Ctx, name: str, body: PasswordIn, by: Admin) -> dict[str, Any]:
    """A new password (8 characters or more). The account's browser sessions end; its API
    tokens do not (revoke them to end them)."""
    return account_out(users.set_password(ctx.store, name, body.password, ctx.now, by=by.name))


@router.put(
    "/users/{name}/role",
    response_model=AccountOut,
    responses={**NO_USER, **LAST_ADMIN},
)
def set_role(ctx: Ctx, name: str, body: RoleIn, by: Admin) -> dict[str, Any]:
    """Make an account admin or annotator, from its next request on."""
    return account_out(users.set_role(ctx.store, name, body.role, ctx.now, by=by.name).after)


@router.get("/audit", response_model=AuditOut, responses=ERRORS)
def audit_log(
    ctx: Ctx,
    _: Admin,
    after: Annotated[int, Query(ge=0, description="read events after this sequence number")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Account and token changes, oldest first: who (`actor`), what, to whom, when."""
    events = audit.events_after(ctx.store, after, limit)
    return {
        "events": [asdict(event) for event in events],
        "next_after": events[-1].seq if events else after,
    }
