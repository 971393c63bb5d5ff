"""exports/registry.py is the one list of exports: the CLI, the REST schema and the runner read it."""

from __future__ import annotations

import argparse

from apps.api_models import ExportIn
from apps.settings import build_parser
from exports.registry import FORMATS, KINDS, TARGETS


def test_every_record_export_has_a_builder_and_a_check_that_load() -> None:
    for export in FORMATS:
        if export.kind == "judgments":  # a table (exports/table.py), not records
            assert export.builder is None and export.check is None
            continue
        assert callable(export.load_builder()) and callable(export.load_check()), export


def _export_parser() -> argparse.ArgumentParser:
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser: argparse.ArgumentParser = commands.choices["export"]
    return parser


def test_the_cli_offers_the_registrys_kinds_and_targets() -> None:
    choices = {action.dest: action.choices for action in _export_parser()._actions}
    assert list(choices["kind"] or ()) == list(KINDS)
    assert set(choices["target"] or ()) == set(TARGETS)


def test_the_rest_schema_offers_the_registrys_kinds_and_targets() -> None:
    properties = ExportIn.model_json_schema()["properties"]
    assert properties["kind"]["enum"] == list(KINDS)
    assert properties["target"]["enum"] == list(TARGETS)
