"""The Compare screen's HTML: untrusted text is shown, never executed."""

from __future__ import annotations

import pytest

from apps.gradio_app.present import markdown_html, progress_html, prompt_html, response_html
from labeling.models import Message, Progress, Role

HOSTILE = [
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"),
    ("<svg onload=alert(1)>", "&lt;svg onload=alert(1)&gt;"),
    ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
    ("[x](data:text/html;base64,PHNjcmlwdD4=)", "[x](data:text/html;base64,PHNjcmlwdD4=)"),
    ("<a href='javascript:alert(1)'>x</a>", "&lt;a href='javascript:alert(1)'&gt;x&lt;/a&gt;"),
    ("```html\n<script>x()</script>\n```", '<code class="language-html">&lt;script&gt;x()&lt;/script&gt;'),
    ("\u202egnp.exe", "[U+202E]gnp.exe"),  # a right-to-left override, made visible
    ("a\u2066b\u2069c", "a[U+2066]b[U+2069]c"),  # isolates too
]


@pytest.mark.parametrize(("text", "shown"), HOSTILE)
def test_hostile_markdown_is_escaped(text: str, shown: str) -> None:
    html = markdown_html(text)
    assert shown in html
    assert "<script" not in html and "<img" not in html and "<svg" not in html
    assert 'href="javascript:' not in html and 'href="data:' not in html
    assert not set(html) & {
        "\u202a",
        "\u202b",
        "\u202c",
        "\u202d",
        "\u202e",
        "\u2066",
        "\u2067",
        "\u2068",
        "\u2069",
    }


def test_markdown_still_renders_lists_code_and_safe_links() -> None:
    html = markdown_html("1. **one**\n2. two\n\n`code` and [docs](https://example.com)")
    assert "<ol>" in html and "<strong>one</strong>" in html and "<code>code</code>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow" target="_blank">docs</a>' in html


def test_images_in_responses_are_not_loaded() -> None:
    assert "<img" not in markdown_html("![pixel](https://tracker.example/p.gif)")


def test_the_prompt_shows_system_earlier_turns_and_the_message_to_answer() -> None:
    html = prompt_html(
        (
            Message(Role.SYSTEM, "Be brief."),
            Message(Role.USER, "Hi"),
            Message(Role.ASSISTANT, "Hello, how can I help?"),
            Message(Role.USER, "Refund <b>now</b>"),
        )
    )
    assert (
        html.index("System prompt")
        < html.index("Customer")
        < html.index("Earlier reply")
        < html.index("Message to answer")
    )
    assert "Refund &lt;b&gt;now&lt;/b&gt;" in html


def test_response_and_progress_escape_their_labels() -> None:
    assert "&lt;i&gt;" in progress_html(Progress(3, 10), "<i>eve</i>")
    assert 'data-judged="3" data-total="10"' in progress_html(Progress(3, 10), "ana")
    assert "7 left" in progress_html(Progress(3, 10), "ana")
    assert "Left response" in response_html("x", "Left", "1")


def test_tool_calls_and_results_are_shown_escaped() -> None:
    from labeling.models import ToolCall

    html = prompt_html(
        (
            Message(Role.USER, "Where is order 42?"),
            Message(Role.ASSISTANT, "", (ToolCall("c1", "find<order>", '{"q":"<script>"}'),)),
            Message(Role.TOOL, "shipped", (), "c1", "find<order>"),
        )
    )
    assert "calls <code>find&lt;order&gt;</code>" in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "Tool result to answer (find&lt;order&gt;)" in html
