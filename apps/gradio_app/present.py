"""Pure view models: domain objects in, safe HTML strings out. No Gradio here.

Model output and prompts are untrusted. They are rendered server-side with markdown-it with raw
HTML turned off (so `<script>` shows as text), unsafe link schemes refused by markdown-it's link
validation (javascript:, vbscript:, file:, data:), and images not rendered (no request leaves the
page because of a response). Bidirectional controls (e.g. U+202E, which makes "fdp.exe" read as
"exe.pdf") are shown as visible markers, so text reads in the order it was written.
"""

from __future__ import annotations

from html import escape

from markdown_it import MarkdownIt

from labeling.models import Message, Progress, Role, Showing

_markdown = (
    MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    .enable(["table", "strikethrough"])
    .disable("image")
)


def _link_open(self, tokens, idx, options, env):  # type: ignore[no-untyped-def]
    tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
    tokens[idx].attrSet("target", "_blank")
    return self.renderToken(tokens, idx, options, env)


_markdown.add_render_rule("link_open", _link_open)


# Embeddings, overrides and isolates (LRE RLE PDF LRO RLO, LRI RLI FSI PDI): the spoofing kind.
_BIDI_CONTROLS = {code: f"[U+{code:04X}]" for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def markdown_html(text: str) -> str:
    """Markdown to HTML with raw HTML shown as text, bidi controls as visible markers.

    >>> markdown_html("<b>hi</b> **there**")
    '<p>&lt;b&gt;hi&lt;/b&gt; <strong>there</strong></p>\\n'
    >>> markdown_html("invoice\u202efdp.exe")
    '<p>invoice[U+202E]fdp.exe</p>\\n'
    """
    return _markdown.render(text.translate(_BIDI_CONTROLS))


_ROLE_LABEL = {
    Role.SYSTEM: "System prompt",
    Role.USER: "Customer",
    Role.ASSISTANT: "Earlier reply",
    Role.TOOL: "Tool",
}


def _tool_calls_html(message: Message) -> str:
    return "".join(
        f'<div class="pd-toolcall">calls <code>{escape(call.name)}</code>'
        f"<pre><code>{escape(call.arguments_json)}</code></pre></div>"
        for call in message.tool_calls
    )


def _turn(message: Message, is_last: bool) -> str:
    label = "Message to answer" if is_last else _ROLE_LABEL[message.role]
    if message.role is Role.TOOL:
        label = f"{'Tool result to answer' if is_last else 'Tool result'} ({message.name or 'tool'})"
    label = escape(label)  # a tool's name comes from the data
    body = markdown_html(message.content) + _tool_calls_html(message)
    if message.role is Role.SYSTEM:
        return (
            f'<details class="pd-turn pd-system"><summary>{label}</summary>'
            f'<div class="pd-md">{body}</div></details>'
        )
    return (
        f'<div class="pd-turn pd-{message.role.value}{" pd-last" if is_last else ""}">'
        f'<div class="pd-role">{label}</div><div class="pd-md">{body}</div></div>'
    )


def prompt_html(prompt: tuple[Message, ...]) -> str:
    turns = [_turn(m, n == len(prompt) - 1) for n, m in enumerate(prompt)]
    return f'<div class="pd-chat">{"".join(turns)}</div>'


def response_html(content: str, side: str, key: str) -> str:
    """One candidate answer; `side` is what the annotator calls it ("Left"/"Right")."""
    return (
        f'<div class="pd-response" data-side="{escape(side.lower())}">'
        f'<div class="pd-response-head"><span class="pd-key">{escape(key)}</span> '
        f"{escape(side)} response</div>"
        f'<div class="pd-md">{markdown_html(content)}</div></div>'
    )


def progress_html(progress: Progress, annotator: str, *, signed_in: bool = True) -> str:
    percent = 0 if progress.total == 0 else round(100 * progress.judged / progress.total)
    who = (
        f' · signed in as <b>{escape(annotator)}</b> · <a href="logout" class="pd-logout">sign out</a>'
        if signed_in
        else ""
    )
    return (
        f'<div class="pd-progress" data-judged="{progress.judged}" data-total="{progress.total}">'
        f'<div class="pd-progress-text"><b>{progress.judged}</b> of {progress.total} pairs judged'
        f" · {progress.remaining} left{who}</div>"
        f'<div class="pd-bar"><div class="pd-bar-fill" style="width:{percent}%"></div></div></div>'
    )


def done_html() -> str:
    return (
        '<div class="pd-done"><h2>All pairs judged. Thank you!</h2>'
        "<p>New pairs appear here when they are imported. "
        "Press <b>u</b> to undo your last judgment.</p></div>"
    )


def showing_view(showing: Showing) -> tuple[str, str, str]:
    """(prompt, left, right) HTML for one showing."""
    return (
        prompt_html(showing.item.prompt),
        response_html(showing.left.content, "Left", "1"),
        response_html(showing.right.content, "Right", "2"),
    )
