"""Pure view models: domain objects in, safe HTML strings out. No Gradio here.

Model output and prompts are untrusted. They are rendered server-side with markdown-it with raw
HTML turned off (so `<script>` shows as text), unsafe link schemes refused by markdown-it's link
validation (javascript:, vbscript:, file:, data:), and images not rendered (no request leaves the
page because of a response). Bidirectional controls (e.g. U+202E, which makes "fdp.exe" read as
"exe.pdf") are shown as visible markers, so text reads in the order it was written. A dataset's
wording (its question, its turn labels) and item ids come from the data too: always escaped.
"""

from __future__ import annotations

from html import escape

from markdown_it import MarkdownIt

from labeling.models import (
    NEUTRAL_WORDING,
    Message,
    PairJudgment,
    PairVerdict,
    Progress,
    Role,
    Showing,
    Wording,
)

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


MARKDOWN_LIMIT = 20_000  # characters rendered as markdown per text; the rest as plain text


def markdown_html(text: str) -> str:
    """Markdown to HTML with raw HTML shown as text, bidi controls as visible markers.

    >>> markdown_html("<b>hi</b> **there**")
    '<p>&lt;b&gt;hi&lt;/b&gt; <strong>there</strong></p>\\n'
    >>> markdown_html("invoice\u202efdp.exe")
    '<p>invoice[U+202E]fdp.exe</p>\\n'
    """
    text = text.translate(_BIDI_CONTROLS)
    if len(text) <= MARKDOWN_LIMIT:
        return _markdown.render(text)
    # Markdown costs up to ~4 µs a character (1.4 MB of links took 5 s): past the limit the rest
    # is shown whole, as plain text, so that one response cannot stall the server.
    rest = text[MARKDOWN_LIMIT:]
    return (
        _markdown.render(text[:MARKDOWN_LIMIT])
        + f'<p class="pd-plain-note">The next {len(rest):,} characters are shown as plain text.</p>'
        + f'<pre class="pd-plain">{escape(rest)}</pre>'
    )


def _tool_calls_html(message: Message) -> str:
    return "".join(
        f'<div class="pd-toolcall">calls <code>{escape(call.name)}</code>'
        f"<pre><code>{escape(call.arguments_json)}</code></pre></div>"
        for call in message.tool_calls
    )


def _role_label(message: Message, is_last: bool, wording: Wording) -> str:
    if message.role is Role.TOOL:
        return f"{'Tool result to answer' if is_last else 'Tool result'} ({message.name or 'tool'})"
    label = {
        Role.SYSTEM: wording.system_label,
        Role.USER: wording.user_label,
        Role.ASSISTANT: wording.assistant_label,
    }[message.role]
    return f"{label} · message to answer" if is_last else label


def _turn(message: Message, is_last: bool, wording: Wording) -> str:
    label = escape(_role_label(message, is_last, wording))  # labels and tool names come from the data
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


def prompt_html(prompt: tuple[Message, ...], wording: Wording = NEUTRAL_WORDING) -> str:
    """The prompt as a chat, each turn labelled in the dataset's words.

    >>> html = prompt_html((Message(Role.USER, "Hi"),), Wording(user_label="Customer"))
    >>> "Customer · message to answer" in html
    True
    """
    turns = [_turn(m, n == len(prompt) - 1, wording) for n, m in enumerate(prompt)]
    return f'<div class="pd-chat">{"".join(turns)}</div>'


def question_html(wording: Wording | None, showing_id: str = "") -> str:
    """The question the annotator answers (None: nothing is shown). `data-showing` changes with
    every pair shown: the page scrolls back to the top when it does (keyboard.js)."""
    if wording is None:
        return (
            '<div class="pd-question pd-question-done" data-showing=""><h2>Nothing left to judge</h2></div>'
        )
    return (
        f'<div class="pd-question" data-showing="{escape(showing_id)}"><h2>{escape(wording.question)}</h2>'
        '<div class="pd-keys">Press <b>1</b> left, <b>2</b> right, <b>3</b> tie, <b>4</b> both bad, '
        "<b>u</b> undo. The models are hidden and the sides are shuffled.</div></div>"
    )


def response_html(content: str, side: str, key: str) -> str:
    """One candidate answer, whole (the page scrolls, nothing is cut), ending with a marker so
    that the annotator knows they have read it to its end. `side` is what the annotator calls it
    ("Left"/"Right"); on a narrow screen, where the two are stacked, it also says where it is."""
    place = "top" if side == "Left" else "bottom"
    return (
        f'<div class="pd-response" data-side="{escape(side.lower())}">'
        f'<div class="pd-response-head"><span class="pd-key">{escape(key)}</span> '
        f'{escape(side)} response<span class="pd-stacked-hint"> ({place})</span></div>'
        f'<div class="pd-md">{markdown_html(content)}</div>'
        f'<div class="pd-end">End of the {escape(side.lower())} response</div></div>'
    )


def progress_html(progress: Progress, annotator: str, *, signed_in: bool = True) -> str:
    """The annotator's counts, and who is signed in with a button that signs them out. Signing
    out is a POST from this page (the desk refuses one from another site): a link to `logout`,
    in a prompt say, signs no one out."""
    percent = 0 if progress.total == 0 else round(100 * progress.judged / progress.total)
    who = (
        f" · signed in as <b>{escape(annotator)}</b> · "
        '<form method="post" action="logout" class="pd-logout-form">'
        '<button type="submit" class="pd-logout">sign out</button></form>'
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
        "<p>There is no pair on screen, so the verdict keys and buttons are off. "
        "New pairs appear here when they are imported (reload the page).</p>"
        "<p>Press <b>u</b> to take back your last verdict and judge that pair again.</p></div>"
    )


def showing_view(showing: Showing) -> tuple[str, str, str]:
    """(prompt, left, right) HTML for one showing."""
    return (
        prompt_html(showing.item.prompt, showing.wording),
        response_html(showing.left.content, "Left", "1"),
        response_html(showing.right.content, "Right", "2"),
    )


# --- messages: what happened, to which pair ---------------------------------------------------

VERDICT_WORDS = {
    PairVerdict.LEFT: "left better",
    PairVerdict.RIGHT: "right better",
    PairVerdict.TIE: "tie",
    PairVerdict.BOTH_BAD: "both bad",
}


def _pair_named(caption: str, item_id: str) -> str:
    about = f"the pair about “{caption}”" if caption else "the pair"
    return f"{about} (item {item_id})" if item_id else about


def saved_message(verdict: str, caption: str, item_id: str) -> str:
    """
    >>> saved_message("left", "Where is my order?", "support/t-003")
    'Saved: left better on the pair about “Where is my order?” (item support/t-003).'
    """
    return f"Saved: {VERDICT_WORDS[PairVerdict(verdict)]} on {_pair_named(caption, item_id)}."


def undone_message(judgment: PairJudgment, caption: str) -> str:
    """The pair is back on screen, with the same sides as when it was judged."""
    return (
        f"Undone: your “{VERDICT_WORDS[judgment.verdict]}” on {_pair_named(caption, judgment.item_id)} "
        "is withdrawn. It is on screen again, same sides: judge it again."
    )


def status_html(message: str, tone: str = "") -> str:
    """A message about the last action, shown beside the progress (`tone`: saved, undone, warn)."""
    if not message:
        return '<div class="pd-status-empty"></div>'
    return (
        f'<div class="pd-status-msg pd-status-{escape(tone or "info")}" role="status">{escape(message)}</div>'
    )
