"""`prefdesk serve` and `prefdesk demo`: one process owns the store and serves the desk (Gradio,
at /) and the REST API (/api/v1, apps/api.py) with uvicorn.

    server = serve(store, ServeOptions("127.0.0.1", 7860), block=False)
    server.local_url   # "http://127.0.0.1:7860/"
    server.close()
"""

from __future__ import annotations

import gc
import ipaddress
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import uvicorn
from fastapi import FastAPI

from apps.api import build_api
from apps.cli import run_for_desk
from apps.control import ControlSocket, ask_desk
from apps.gradio_app.main import build_app, launch_options
from apps.settings import DemoSettings, ServeSettings
from labeling import users
from labeling.demo import DEMO_PASSWORD, DEMO_USER, prepare_demo
from labeling.desk import Desk
from labeling.ingest import utc_now
from labeling.queue import QueuePolicy
from labeling.ratelimit import JudgingRate
from store.db import Store, open_store
from store.errors import StoreError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 7860
    overlap: int | None = None
    exports_dir: Path | None = None
    judging_rate: JudgingRate | None = JudgingRate()  # per annotator; None: no limit


@dataclass
class RunningServer:
    """A server started with block=False (tests, benchmarks)."""

    local_url: str
    server: uvicorn.Server
    thread: threading.Thread

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def check_host(store: Store, host: str) -> None:
    if not users.list_users(store) and not is_loopback(host):
        raise SystemExit(
            f"error: refusing to serve on {host} without accounts: anyone on the network could "
            "judge. Add one with `prefdesk users add NAME --role annotator --db ...`, or serve on 127.0.0.1."
        )


def build_server(store: Store, options: ServeOptions) -> FastAPI:
    """The REST API with the Gradio desk mounted at /. Login is required whenever accounts exist;
    without any, only a loopback address is allowed (a one-person desk on one's own machine)."""
    has_users = bool(users.list_users(store))
    check_host(store, options.host)
    store.keep_memory_small()
    desk = Desk(store, policy=QueuePolicy(overlap=options.overlap), rate=options.judging_rate)
    desk.index.sync()  # read the log now (2 s for a million judgments), not on someone's first click
    exports_dir = options.exports_dir or Path(store.path).resolve().parent / "exports"
    api = build_api(desk, exports_dir)
    auth = (lambda name, password: users.authenticate(store, name, password)) if has_users else None
    return gr.mount_gradio_app(
        api,
        build_app(desk),
        path="",
        auth=auth,
        auth_message="Sign in to prefdesk" if has_users else None,
        ssr_mode=False,
        footer_links=[],
        run_history=False,
        **launch_options(),
    )


class _Server(uvicorn.Server):
    """uvicorn's server, calling `on_ready` once it listens (not before: a URL announced earlier
    could be refused)."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
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
    )
    server = _Server(config, on_ready)
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
    return RunningServer(f"http://{options.host}:{options.port}/", server, thread)


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
            options = ServeOptions(settings.host, settings.port)
        else:
            rate = settings.judgment_rate
            options = ServeOptions(
                settings.host,
                settings.port,
                settings.overlap,
                settings.exports_dir,
                judging_rate=JudgingRate(rate, settings.judgment_burst) if rate > 0 else None,
            )
        check_host(store, options.host)  # before saying anything is served
        login_required = bool(users.list_users(store))
        control = ControlSocket(
            Path(settings.db), lambda request: run_for_desk(request, store, login_required=login_required)
        )
        try:
            serve(store, options, on_ready=lambda: _announce(settings, login_required))
        except KeyboardInterrupt:
            pass
        finally:
            control.close()
    finally:
        store.close()
    print("stopped", file=sys.stderr)
    return 0


def _announce(settings: ServeSettings | DemoSettings, login_required: bool) -> None:
    """What is served where, and how to sign in: the sign-in lines last, where the eye lands."""
    shown_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = f"http://{shown_host}:{settings.port}"
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
