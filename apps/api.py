"""The REST API for scripts and integrations: the same Desk as the Gradio screens, behind
per-user API tokens (`Authorization: Bearer pd_...`; `prefdesk tokens create USER`).

Annotators get pairs, judge, undo and read their own judgments (apps/api_judging.py); admins
also add items, read everyone's judgments and stats, export, and manage tokens and accounts
(apps/api_admin.py). Errors are JSON: {"error": "..."}. OpenAPI: /api/openapi.json, docs at
/api/docs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from apps import api_admin, api_judging
from apps.api_common import SERVICES_STATE_KEY, ApiError, Services
from labeling import tokens
from labeling.clock import utc_now
from labeling.desk import Desk
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
from store.errors import StoreError, StoreWriteError

ROUTERS = (api_judging.router, api_admin.router)
DOCS_ASSETS = Path(__file__).parent / "static" / "swagger-ui"  # vendored: see its README.md


def build_api(desk: Desk, exports_dir: Path, now: Callable[[], datetime] = utc_now) -> FastAPI:
    app = FastAPI(
        title="prefdesk",
        summary="Judge LLM responses and pull training data: the REST API of a prefdesk server.",
        version="1",
        openapi_url="/api/openapi.json",
        docs_url=None,  # served below from the desk's own copy of Swagger UI
        redoc_url=None,
    )
    setattr(app.state, SERVICES_STATE_KEY, Services(desk, exports_dir, now))
    _install_error_handlers(app)
    _install_docs(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


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
                for route in (*app.routes, *(route for router in ROUTERS for route in router.routes))
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
