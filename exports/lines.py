"""JSONL lines made by the store from stored texts, for the records nearly every export holds.

Most records are plain: a prompt of plain turns (role and content only, a system turn first if
at all), answers with text. Their line is fixed text around the JSON of the prompt's turns and of
the answers, so the store writes it a batch at a time (`store.judgments.record_lines`) and no
record dict is built and walked by its check. A line is made only where the format's check in
exports/checks.py is sure to pass on the record the builder would make (its shortcut for plain
turns, `_plain_turns`, and the template's conditions below); every other record (tool calls, a
blank text, a system turn that is not first, identical answers, a prompt that does not end with
the user) is built and checked one at a time (exports/run.py), so a broken record fails with the
message it always had. tests/unit/test_lines.py requires the bytes that building and checking
every record writes.

    >>> TEMPLATES["dpo", "trl", ""].parts[:3]
    (('text', '{"prompt":['), ('field', 'turns'), ('text', '],"chosen":[{"role":"assistant","content":'))
"""

from __future__ import annotations

import re
from collections.abc import Callable
from operator import attrgetter
from typing import Any, NamedTuple

import orjson

_ANSWER = '{"role":"assistant","content":'


class LineTemplate(NamedTuple):
    """A format's line for plain records: `<name>` marks a field (store.judgments.LINE_FIELDS,
    or a column of extra values per record), the rest is written as it is."""

    template: str
    last_role: str | None  # the prompt's last turn must be this role (the prompt formats: user)
    distinct_texts: bool  # text_1 and text_2 must differ (chosen and rejected)

    @property
    def parts(self) -> tuple[tuple[str, str], ...]:
        pieces = re.split(r"<(\w+)>", self.template)
        return tuple(
            ("field" if n % 2 else "text", piece) for n, piece in enumerate(pieces) if piece or n % 2
        )


TEMPLATES: dict[tuple[str, str, str], LineTemplate] = {
    # (kind, target, variant): the variant is a format flag (standard, prompt_completion) or margin
    ("dpo", "trl", ""): LineTemplate(
        f'{{"prompt":[<turns>],"chosen":[{_ANSWER}<text_1>}}],"rejected":[{_ANSWER}<text_2>}}]}}\n',
        "user",
        True,
    ),
    ("dpo", "openai", ""): LineTemplate(
        f'{{"input":{{"messages":[<turns>]}},"preferred_output":[{_ANSWER}<text_1>}}],'
        f'"non_preferred_output":[{_ANSWER}<text_2>}}]}}\n',
        "user",
        True,
    ),
    ("reward", "trl", ""): LineTemplate(
        f'{{"chosen":[<turns>,{_ANSWER}<text_1>}}],"rejected":[<turns>,{_ANSWER}<text_2>}}]}}\n', None, True
    ),
    ("reward", "trl", "margin"): LineTemplate(
        f'{{"chosen":[<turns>,{_ANSWER}<text_1>}}],"rejected":[<turns>,{_ANSWER}<text_2>}}],'
        '"margin":<margin>}\n',
        None,
        True,
    ),
    ("sft", "trl", ""): LineTemplate(f'{{"messages":[<turns>,{_ANSWER}<text_1>}}]}}\n', None, False),
    ("sft", "trl", "prompt_completion"): LineTemplate(
        f'{{"prompt":[<turns>],"completion":[{_ANSWER}<text_1>}}]}}\n', "user", False
    ),
    ("sft", "openai", ""): LineTemplate(
        f'{{"messages":[<weighted_turns>,{_ANSWER}<text_1>,"weight":1}}]}}\n', None, False
    ),
    ("kto", "trl", ""): LineTemplate(
        f'{{"prompt":[<turns>],"completion":[{_ANSWER}<text_1>}}],"label":<label>}}\n', "user", False
    ),
}


class Lines(NamedTuple):
    """How an export's plain records become lines: the template, and per entry the rowids of its
    texts and the extra values the template names (as JSON text)."""

    template: LineTemplate
    text_1: Callable[[Any], int]
    text_2: Callable[[Any], int] | None
    extras: dict[str, Callable[[Any], str]]


def _json_number(value: float) -> str:
    return orjson.dumps(value).decode()


def lines_for(kind: str, target: str, options: Any, *, with_margin: bool = False) -> Lines | None:
    """The plain-record lines of this kind, target and options (None: every record is built and
    checked one at a time: dpo --standard, the eval sets)."""
    variant = ""
    if kind == "dpo" and options.standard:
        return None
    if kind == "sft" and target == "trl" and options.prompt_completion:
        variant = "prompt_completion"
    if kind == "reward" and with_margin:
        variant = "margin"
    template = TEMPLATES.get((kind, target, variant))
    if template is None:
        return None
    if kind in ("dpo", "reward"):
        extras: dict[str, Callable[[Any], str]] = (
            {"margin": lambda e: _json_number(e.margin)} if with_margin else {}
        )
        return Lines(template, attrgetter("chosen_row"), attrgetter("rejected_row"), extras)
    if kind == "sft":
        return Lines(template, attrgetter("answer_row"), None, {})
    label = {"label": lambda e: "true" if e.label else "false"}
    return Lines(template, attrgetter("completion_row"), None, label)
