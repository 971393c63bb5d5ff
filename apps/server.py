"""`prefdesk serve` and `prefdesk demo`: one process owns the store and serves the desk (Gradio,
at /) and the REST API (/api/v1, apps/api.py) with uvicorn.

    server = serve(store, ServeOptions("127.0.0.1", 7860), block=False)
    server.local_url   # "http://127.0.0.1:7860/"
    server.close()
"""

from __future__ import annotations

import gc
import ipaddress
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import uvicorn
from fastapi import FastAPI

from apps.api import build_api
from apps.gradio_app.main import build_app, launch_options
from apps.settings import DemoSettings, ServeSettings
from labeling import users
from labeling.demo import DEMO_PASSWORD, DEMO_USER, prepare_demo
from labeling.desk import Desk
from labeling.ingest import utc_now
from labeling.queue import QueuePolicy
from store.db import Store, open_store


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


@dataclass
class RunningServer:
    """A server started with block=False (tests, benchmarks)."""

    local_url: str
    server: uvicorn.Server
    thread: threading.Thread

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def build_server(store: Store, options: ServeOptions) -> FastAPI:
    """The REST API with the Gradio desk mounted at /. Login is required whenever accounts exist;
    without any, only a loopback address is allowed (a one-person desk on one's own machine)."""
    has_users = bool(users.list_users(store))
    if not has_users and not is_loopback(options.host):
        raise SystemExit(
            f"error: refusing to serve on {options.host} without accounts: anyone on the network could "
            "judge. Add one with `prefdesk users add NAME --role annotator --db ...`, or serve on 127.0.0.1."
        )
    store.keep_memory_small()
    desk = Desk(store, policy=QueuePolicy(overlap=options.overlap))
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


def serve(store: Store, options: ServeOptions, *, block: bool = True) -> RunningServer | None:
    config = uvicorn.Config(
        build_server(store, options),
        host=options.host,
        port=options.port,
        log_level="warning",
        access_log=False,  # request lines carry no secrets, but a busy desk would flood the terminal
        # Gradio's event streams stay open: past this, shutting down stops waiting for them.
        timeout_graceful_shutdown=5 if block else 1,
    )
    server = uvicorn.Server(config)
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


def run(settings: ServeSettings | DemoSettings) -> int:
    if isinstance(settings, DemoSettings):
        settings.db.parent.mkdir(parents=True, exist_ok=True)
        if settings.fresh:
            settings.db.unlink(missing_ok=True)
    store = open_store(settings.db)
    if isinstance(settings, DemoSettings):
        report = prepare_demo(store, utc_now)
        print(f"demo store {settings.db}: {report.items_added} new item(s); {report.records} emails in all")
        options = ServeOptions(settings.host, settings.port)
    else:
        options = ServeOptions(settings.host, settings.port, settings.overlap, settings.exports_dir)
    shown_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    print(f"prefdesk is serving {settings.db} on http://{shown_host}:{settings.port}", flush=True)
    print(f"  REST API: http://{shown_host}:{settings.port}/api/docs", flush=True)
    if isinstance(settings, DemoSettings):
        print(f"sign in as  user: {DEMO_USER}   password: {DEMO_PASSWORD}", flush=True)
    elif not users.list_users(store):
        print("no accounts: no login needed on this machine; judgments are recorded as 'local'", flush=True)
    print("press Ctrl+C to stop", flush=True)
    try:
        serve(store, options)
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    print("stopped", file=sys.stderr)
    return 0
