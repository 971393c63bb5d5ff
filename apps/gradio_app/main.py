"""build_app(desk) -> gr.Blocks, and the launch options that go with it (Gradio 6: theme, css
and head are launch() arguments)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import gradio as gr

from apps.gradio_app.compare import CompareScreen
from labeling.desk import Desk

TITLE = "prefdesk"


def _asset(name: str) -> str:
    return resources.files("apps.gradio_app").joinpath(name).read_text(encoding="utf-8")


def build_app(desk: Desk) -> gr.Blocks:
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        # The question is the dataset's own (see CompareScreen): the title only names the screen.
        gr.HTML('<div class="pd-title">prefdesk · Compare</div>')
        CompareScreen(desk).build(app)
    app.queue(default_concurrency_limit=16)
    return app


def launch_options() -> dict[str, Any]:
    """theme, css and head for launch(): system fonts only (no font CDN), the key handler, and
    a reload to the sign-in page when the session has ended."""
    theme = gr.themes.Default(
        font=[gr.themes.Font("system-ui"), gr.themes.Font("sans-serif")],
        font_mono=[gr.themes.Font("ui-monospace"), gr.themes.Font("monospace")],
    )
    head = f"<script>{_asset('keyboard.js')}</script><script>{_asset('session.js')}</script>"
    return {"theme": theme, "css": _asset("desk.css"), "head": head}
