"""Docs that must follow the code: every command documented, every format's record real."""

from __future__ import annotations

import argparse
from pathlib import Path

from apps.settings import build_parser

ROOT = Path(__file__).parent.parent.parent


def _commands(parser: argparse.ArgumentParser, prefix: str = "prefdesk") -> list[str]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(f"{prefix} {name}")
                found.extend(_commands(sub, f"{prefix} {name}"))
    return found


def test_every_cli_command_and_flag_is_documented() -> None:
    cli_doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    leaves = [c for c in _commands(build_parser()) if c not in ("prefdesk users",)]
    missing = [c for c in leaves if f"`{c}" not in cli_doc]
    assert not missing, f"undocumented commands in docs/cli.md: {missing}"
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                for flag in (o for a in sub._actions for o in a.option_strings if o.startswith("--")):
                    assert flag in cli_doc or flag == "--help", f"{flag} is not in docs/cli.md"


def test_the_export_docs_show_the_records_the_code_writes() -> None:
    exports_doc = (ROOT / "docs" / "exports.md").read_text(encoding="utf-8")
    for target in ("trl", "openai"):
        first = (
            (ROOT / "tests" / "data" / "golden" / f"dpo_{target}.jsonl")
            .read_text(encoding="utf-8")
            .splitlines()[0]
        )
        assert first in exports_doc, f"docs/exports.md does not show the current dpo_{target} record"
    golden = ROOT / "tests" / "data" / "golden"
    first_row = (golden / "judgments.jsonl").read_text(encoding="utf-8").splitlines()[0]
    assert first_row in exports_doc, "docs/exports.md does not show the current judgments row"
    csv_head = "\n".join((golden / "judgments.csv").read_text(encoding="utf-8").splitlines()[:3])
    assert csv_head in exports_doc, "docs/exports.md does not show the current judgments.csv rows"


def test_the_readme_starts_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:15]
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)
