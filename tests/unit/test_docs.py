"""Docs that must follow the code: every command documented, every format's record real."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from apps.settings import build_parser
from exports.registry import FORMATS
from exports.run import run_export
from labeling.clock import utc_now
from store.db import Store
from tests.unit.test_exports import judged_store  # noqa: F401  (the golden judgments, a fixture)

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
    """Every export of the registry is in the table of exports with its description, and every
    golden file's first record (of each format flag too) is shown as it is."""
    exports_doc = (ROOT / "docs" / "exports.md").read_text(encoding="utf-8")
    golden = ROOT / "tests" / "data" / "golden"
    for export in FORMATS:
        assert f"`{export.file_name}`: {export.description}" in exports_doc, (
            f"docs/exports.md's table does not describe {export.kind} --target {export.target}"
        )
        for name in filter(None, (export.golden, *export.variants.values())):
            lines = (golden / name).read_text(encoding="utf-8").splitlines()
            shown = "\n".join(lines[:3]) if name.endswith(".csv") else lines[0]  # csv: header and two rows
            assert shown in exports_doc, f"docs/exports.md does not show the current record of {name}"


def _json_block_after(doc: str, heading: str) -> Any:
    start = doc.index("```json\n", doc.index(heading)) + len("```json\n")
    return json.loads(doc[start : doc.index("```", start)])


PER_EXPORT = ("store", "export_id", "created_at", "prefdesk_version")  # differ from export to export


def test_the_manifest_example_is_what_the_code_writes(judged_store: Store, tmp_path: Path) -> None:  # noqa: F811
    shown = _json_block_after(
        (ROOT / "docs" / "exports.md").read_text(encoding="utf-8"), "## `manifest.json` and `README.md`"
    )
    written = run_export(judged_store, tmp_path, kind="dpo", target="trl", now=utc_now)
    assert set(shown) == set(written)
    assert {k: v for k, v in shown.items() if k not in PER_EXPORT} == {
        k: v for k, v in written.items() if k not in PER_EXPORT
    }


def test_the_readme_starts_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:15]
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)
