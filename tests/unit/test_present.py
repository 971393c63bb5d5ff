"""The Compare screen's HTML: untrusted text is shown, never executed."""

from __future__ import annotations

from datetime import datetime

import pytest

from apps.gradio_app.present import (
    markdown_html,
    progress_html,
    prompt_html,
    question_html,
    response_html,
    saved_message,
    status_html,
    undone_message,
)
from labeling.models import Message, PairJudgment, PairVerdict, Progress, Role, Wording

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
        < html.index(">User<")
        < html.index(">Assistant<")
        < html.index(">User · message to answer<")
    )
    assert "Refund &lt;b&gt;now&lt;/b&gt;" in html


def test_turns_are_labelled_in_the_datasets_words() -> None:
    wording = Wording("Which reply is kinder?", "Customer", "Support agent", "Policy")
    html = prompt_html(
        (
            Message(Role.SYSTEM, "Be brief."),
            Message(Role.USER, "Hi"),
            Message(Role.ASSISTANT, "Hello"),
            Message(Role.USER, "Refund?"),
        ),
        wording,
    )
    assert (
        html.index("<summary>Policy</summary>")
        < html.index(">Customer<")
        < html.index(">Support agent<")
        < html.index(">Customer · message to answer<")
    )
    assert "<h2>Which reply is kinder?</h2>" in question_html(wording, "s1")


def test_wording_messages_and_ids_from_the_data_are_escaped() -> None:
    hostile = Wording("<img src=x onerror=alert(1)> better?", "<b>Customer</b>")
    assert "&lt;img src=x onerror=alert(1)&gt; better?" in question_html(hostile, '"><script>')
    assert "<img" not in question_html(hostile, "s1") and "<script>" not in question_html(
        hostile, '"><script>'
    )
    assert "&lt;b&gt;Customer&lt;/b&gt; · message to answer" in prompt_html(
        (Message(Role.USER, "Hi"),), hostile
    )
    saved = saved_message("left", "<script>x</script>", "d/<i>1</i>")
    assert "<script>" not in status_html(saved, "saved") and "&lt;script&gt;" in status_html(saved, "saved")


def test_messages_say_which_verdict_on_which_pair() -> None:
    assert (
        saved_message("both_bad", "Where is my order?", "support/t-003")
        == "Saved: both bad on the pair about “Where is my order?” (item support/t-003)."
    )
    undone = PairJudgment(
        "j1", "ana", "support/t-003", "p1", "r1", "r2", PairVerdict.RIGHT, "", None, datetime(2026, 1, 1)
    )
    assert undone_message(undone, "Where is my order?").startswith(
        "Undone: your “right better” on the pair about “Where is my order?” (item support/t-003) is withdrawn."
    )


def test_response_and_progress_escape_their_labels() -> None:
    assert "&lt;i&gt;" in progress_html(Progress(3, 10), "<i>eve</i>")
    assert 'data-judged="3" data-total="10"' in progress_html(Progress(3, 10), "ana")
    assert "7 left" in progress_html(Progress(3, 10), "ana")
    assert "Left response" in response_html("x", "Left", "1")


def test_a_response_ends_with_a_marker_and_says_where_it_is_when_stacked() -> None:
    html = response_html("All done.", "Right", "2")
    assert html.index("All done.") < html.index("End of the right response")
    assert '<span class="pd-stacked-hint"> (bottom)</span>' in html


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
