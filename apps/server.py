"""`prefdesk serve` and `prefdesk demo`: one process owns the store and serves the desk."""

from __future__ import annotations

import ipaddress
import sys

import gradio as gr

from apps.gradio_app.main import build_app, launch_options
from apps.settings import DemoSettings, ServeSettings
from labeling import users
from labeling.demo import DEMO_PASSWORD, DEMO_USER, prepare_demo
from labeling.desk import Desk
from labeling.ingest import utc_now
from store.db import Store, open_store


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(store: Store, host: str, port: int, *, block: bool = True) -> gr.Blocks:
    """Launch the desk on host:port. Login is required whenever accounts exist; without any,
    only a loopback address is allowed (a one-person desk on one's own machine)."""
    has_users = bool(users.list_users(store))
    if not has_users and not is_loopback(host):
        raise SystemExit(
            f"error: refusing to serve on {host} without accounts: anyone on the network could judge. "
            "Add one with `prefdesk users add NAME --role annotator --db ...`, or serve on 127.0.0.1."
        )
    app = build_app(Desk(store))
    auth = (lambda name, password: users.authenticate(store, name, password)) if has_users else None
    app.launch(
        server_name=host,
        server_port=port,
        auth=auth,
        auth_message="Sign in to prefdesk" if has_users else None,
        ssr_mode=False,
        prevent_thread_lock=not block,
        quiet=True,
        **launch_options(),
    )
    return app


def run(settings: ServeSettings | DemoSettings) -> int:
    if isinstance(settings, DemoSettings):
        settings.db.parent.mkdir(parents=True, exist_ok=True)
        if settings.fresh:
            settings.db.unlink(missing_ok=True)
    store = open_store(settings.db)
    if isinstance(settings, DemoSettings):
        report = prepare_demo(store, utc_now)
        print(f"demo store {settings.db}: {report.items_added} new item(s); {report.records} emails in all")
    shown_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    print(f"prefdesk is serving {settings.db} on http://{shown_host}:{settings.port}", flush=True)
    if isinstance(settings, DemoSettings):
        print(f"sign in as  user: {DEMO_USER}   password: {DEMO_PASSWORD}", flush=True)
    elif not users.list_users(store):
        print("no accounts: no login needed on this machine; judgments are recorded as 'local'", flush=True)
    print("press Ctrl+C to stop", flush=True)
    try:
        serve(store, settings.host, settings.port)
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    print("stopped", file=sys.stderr)
    return 0
