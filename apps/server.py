"""`prefdesk serve` and `prefdesk demo`: one process owns the store and serves the desk (Gradio,
at /) and the REST API (/api/v1, apps/api.py) with uvicorn.

    server = serve(store, ServeOptions("127.0.0.1", 7860), block=False)
    server.local_url   # "http://127.0.0.1:7860/"
    server.close()
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import uvicorn
from fastapi import FastAPI, Request
from gradio.routes import App as GradioApp
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount
from starlette.types import Scope

from apps.api import build_api
from apps.api_common import authenticate
from apps.cli import run_for_desk
from apps.control import ControlSocket, ask_desk
from apps.edge import BodyGuard, BodyLimits, MiB, SecurityHeaders, SessionCheck, cors_options
from apps.gradio_app.main import build_app, launch_options
from apps.hosts import check_host, is_loopback
from apps.settings import DEFAULT_MAX_IMPORT_MB, DemoSettings, ServeSettings
from apps.signin import DeskSignIn
from labeling import users
from labeling.clock import utc_now
from labeling.demo import DEMO_PASSWORD, DEMO_USER, prepare_demo
from labeling.desk import Desk
from labeling.queue import QueuePolicy
from labeling.ratelimit import JudgingRate
from labeling.signin import SessionPolicy, SignInPolicy
from store.db import Store, open_store
from store.errors import StoreError


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 7860
    overlap: int | None = None
    exports_dir: Path | None = None
    max_import_bytes: int = DEFAULT_MAX_IMPORT_MB * MiB  # body limit of POST /api/v1/items
    # The desk's address as browsers see it (https://desk.example.com): allowed by CORS, and what
    # a request's Origin must be where it is checked. None: not given.
    public_origin: str | None = None
    allowed_origins: tuple[str, ...] = ()  # other sites whose pages may call the REST API
    ssl_certfile: Path | None = None  # with ssl_keyfile: the desk speaks HTTPS itself
    ssl_keyfile: Path | None = None
    forwarded_allow_ips: tuple[str, ...] = ()  # proxies whose X-Forwarded-For/-Proto count
    sessions: SessionPolicy = field(default_factory=SessionPolicy)  # browser sessions' lifetime, idle timeout
    sign_in: SignInPolicy = field(default_factory=SignInPolicy)  # throttling of failed sign-ins
    judging_rate: JudgingRate | None = JudgingRate()  # per annotator; None: no limit
    engine_threads: int | None = None  # DuckDB's worker threads; None: its default, one per core

    @property
    def tls(self) -> bool:
        return self.ssl_certfile is not None


def serve_options(settings: ServeSettings | DemoSettings) -> ServeOptions:
    if isinstance(settings, DemoSettings):
        return ServeOptions(settings.host, settings.port)
    return ServeOptions(
        settings.host,
        settings.port,
        settings.overlap,
        settings.exports_dir,
        max_import_bytes=settings.max_import_mb * MiB,
        public_origin=settings.public_origin,
        allowed_origins=settings.allowed_origins,
        ssl_certfile=settings.ssl_certfile,
        ssl_keyfile=settings.ssl_keyfile,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        sessions=SessionPolicy(settings.session_lifetime, settings.session_idle),
        judging_rate=(
            JudgingRate(settings.judgment_rate, settings.judgment_burst)
            if settings.judgment_rate > 0
            else None
        ),
        engine_threads=settings.engine_threads,
    )


@dataclass
class RunningServer:
    """A server started with block=False (tests, benchmarks)."""

    local_url: str
    server: uvicorn.Server
    thread: threading.Thread

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


SIGN_IN_MESSAGE = (
    "Sign in to prefdesk. After 5 failed attempts for a name, sign-in pauses for 30 seconds, "
    "then longer: if the button seems to do nothing, wait and try again."
)


def build_server(store: Store, options: ServeOptions) -> FastAPI:
    """The REST API with the Gradio desk mounted at /. Login is required whenever accounts exist;
    without any, only a loopback address is allowed (a one-person desk on one's own machine)."""
    has_users = bool(users.list_users(store))
    check_host(store, options.host)
    store.tune_for_serving(options.engine_threads)
    desk = Desk(store, policy=QueuePolicy(overlap=options.overlap), rate=options.judging_rate)
    desk.index.sync()  # read the log now (2 s for a million judgments), not on someone's first click
    exports_dir = options.exports_dir or Path(store.path).resolve().parent / "exports"
    api = build_api(desk, exports_dir)
    sign_in = None
    if has_users:  # prefdesk's sign-in routes answer before Gradio's: added before it is mounted
        sign_in = DeskSignIn(
            store, policy=options.sign_in, sessions=options.sessions, public_origin=options.public_origin
        )
        sign_in.add_routes(api)
    app = gr.mount_gradio_app(
        api,
        build_app(desk),
        path="",
        auth=sign_in.gradio_auth if sign_in else None,
        auth_message=SIGN_IN_MESSAGE if has_users else None,
        ssr_mode=False,
        footer_links=[],
        run_history=False,
        **launch_options(),
    )
    if sign_in is not None:
        sign_in.attach(app)
    # Starlette runs the last added outermost: headers on every answer, CORS, then the guard.
    app.add_middleware(
        BodyGuard,
        limits=BodyLimits(import_bytes=options.max_import_bytes),
        token_user=lambda token: authenticate(store, token),
        session=_gradio_session(app),
    )
    app.add_middleware(CORSMiddleware, **cors_options(options.allowed_origins, options.public_origin))
    app.add_middleware(SecurityHeaders)
    return app


def _gradio_session(app: FastAPI) -> SessionCheck | None:
    """Whether a request carries a signed-in Gradio session, read from its cookies as Gradio's own
    `get_current_user` does (gradio/routes.py, 6.31), so that the edge can refuse a body before
    Gradio reads it. None when Gradio asks no one to sign in."""
    gradio_app = next(
        route.app for route in app.routes if isinstance(route, Mount) and isinstance(route.app, GradioApp)
    )
    if gradio_app.auth is None and gradio_app.auth_dependency is None:
        return None

    async def signed_in(scope: Scope) -> bool:
        request = Request(scope)
        if gradio_app.auth_dependency is not None:
            user = gradio_app.auth_dependency(request)
            return (await user if inspect.isawaitable(user) else user) is not None
        cookie = gradio_app.cookie_id
        token = request.cookies.get(f"access-token-{cookie}") or request.cookies.get(
            f"access-token-unsecure-{cookie}"
        )
        return token is not None and gradio_app.tokens.get(token) is not None

    return signed_in


class _Server(uvicorn.Server):
    """uvicorn's server, calling `on_ready` once it listens (not before: a URL announced earlier
    could be refused)."""

    def __init__(self, config: uvicorn.Config, store: Store, on_ready: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._store = store
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._store.refuse_waiting_on(asyncio.get_running_loop())  # writes go to the writer thread
        await super().startup(sockets)
        if self.started and self._on_ready is not None:
            self._on_ready()


def serve(
    store: Store, options: ServeOptions, *, block: bool = True, on_ready: Callable[[], None] | None = None
) -> RunningServer | None:
    config = uvicorn.Config(
        build_server(store, options),
        host=options.host,
        port=options.port,
        log_level="warning",
        access_log=False,  # request lines carry no secrets, but a busy desk would flood the terminal
        # Gradio's event streams stay open: past this, shutting down stops waiting for them.
        timeout_graceful_shutdown=5 if block else 1,
        ssl_certfile=options.ssl_certfile,
        ssl_keyfile=options.ssl_keyfile,
        # X-Forwarded-For/-Proto say who the client is and whether it used HTTPS: believed only
        # from the proxies named (uvicorn would otherwise believe anyone on 127.0.0.1).
        proxy_headers=bool(options.forwarded_allow_ips),
        forwarded_allow_ips=list(options.forwarded_allow_ips) or None,
    )
    server = _Server(config, store, on_ready)
    if block:
        gc.collect()
        gc.freeze()  # the index and Gradio's objects live as long as the server: GC need not rescan them
        server.run()
        return None
    thread = threading.Thread(target=server.run, name="prefdesk-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start on {options.host}:{options.port}")
        time.sleep(0.02)
    scheme = "https" if options.tls else "http"
    return RunningServer(f"{scheme}://{options.host}:{options.port}/", server, thread)


def _log_to_stderr() -> None:
    """The desk's own log lines (sign-ins, failed ones with their address) on standard error."""
    logger = logging.getLogger("prefdesk")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # as Ctrl+C: the desk closes its store and control socket on the way out


def run(settings: ServeSettings | DemoSettings) -> int:
    running = ask_desk(settings.db, {"ping": True})
    if running is not None:
        raise StoreError(
            f"a desk (process {running.get('pid', '?')}) already serves {settings.db}: open it in the "
            "browser, or stop it (Ctrl+C where it runs) before serving the store again"
        )
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
    _log_to_stderr()
    if isinstance(settings, DemoSettings):
        settings.db.parent.mkdir(parents=True, exist_ok=True)
        if settings.fresh:
            settings.db.unlink(missing_ok=True)
    store = open_store(settings.db, create=isinstance(settings, DemoSettings))
    try:
        if isinstance(settings, DemoSettings):
            report = prepare_demo(store, utc_now)
            added = report.items_added
            print(f"demo store {settings.db}: {added} new item(s); {report.records} emails in all")
        options = serve_options(settings)
        check_host(store, options.host)  # before saying anything is served
        if not options.tls and not is_loopback(options.host):
            print(
                f"warning: serving on {options.host} over plain HTTP: passwords, session cookies and "
                "API tokens cross the network in clear. Give --ssl-certfile and --ssl-keyfile, or serve "
                "on 127.0.0.1 behind a TLS reverse proxy (docs/security.md)",
                file=sys.stderr,
                flush=True,
            )
        login_required = bool(users.list_users(store))
        control = ControlSocket(
            Path(settings.db), lambda request: run_for_desk(request, store, login_required=login_required)
        )
        try:
            serve(store, options, on_ready=lambda: _announce(settings, login_required, options.tls))
        except KeyboardInterrupt:
            pass
        finally:
            control.close()
    finally:
        store.close()
    print("stopped", file=sys.stderr)
    return 0


def _announce(settings: ServeSettings | DemoSettings, login_required: bool, tls: bool = False) -> None:
    """What is served where, and how to sign in: the sign-in lines last, where the eye lands."""
    shown_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = f"{'https' if tls else 'http'}://{shown_host}:{settings.port}"
    lines = [
        f"prefdesk is serving {settings.db} (Ctrl+C stops it)",
        f"  REST API docs: {url}/api/docs",
        "  prefdesk commands on this store (stats, export, import, users, ...) go through this desk",
    ]
    command_dir = Path(sys.executable).parent
    if shutil.which("prefdesk") is None and (command_dir / "prefdesk").exists():
        lines.append(f"  the prefdesk command is in {command_dir}: `source {command_dir}/activate` to use it")
    if isinstance(settings, DemoSettings):
        lines += ["", f"  open      {url}", f"  user      {DEMO_USER}", f"  password  {DEMO_PASSWORD}", ""]
    elif login_required:
        lines += ["", f"  open {url} and sign in (accounts: `prefdesk users list`)", ""]
    else:
        lines += [
            "",
            f"  open {url}  (no accounts: no sign-in on this machine; judgments are recorded as 'local')",
            "",
        ]
    print("\n".join(lines), flush=True)
