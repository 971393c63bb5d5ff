"""`prefdesk ...`: parses flags (apps/settings.py), calls the domain, prints the outcome.

Exit codes: 0 done, 1 the input or the store was refused (the message says why), 2 bad usage.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

from apps import settings as cli_settings
from exports import preview, write
from exports.run import run_export
from labeling import tokens, users
from labeling.errors import BadUserInput, PrefdeskError
from labeling.ingest import ImportReport, import_files, utc_now
from labeling.stats import desk_stats
from store import backup
from store.db import Store, open_store
from store.errors import StoreError


def _print_import(report: ImportReport) -> None:
    if not report.added_anything:
        print(f"nothing new: {report.records} record(s) already stored in dataset {report.dataset!r}")
    else:
        print(
            f"imported into dataset {report.dataset!r}: {report.items_added} item(s), "
            f"{report.responses_added} response(s), {report.pairs_added} pair(s) to judge "
            f"from {report.records} record(s)"
        )
    if report.items_already_stored and report.added_anything:
        print(f"  {report.items_already_stored} item(s) were already stored (only new responses added)")
    if report.duplicate_records:
        print(f"  {report.duplicate_records} repeated record(s) ignored")
    for reason, count in report.skipped.items():
        print(f"  skipped {count}: {reason}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise BadUserInput("the two passwords differ")
    return first


def _print_stats(stats: dict[str, object]) -> None:
    judgments = stats["judgments"]
    assert isinstance(judgments, dict)
    print(f"items      {stats['items']}")
    print(f"responses  {stats['responses']}")
    print(f"pairs      {stats['pairs']}")
    verdicts = ", ".join(f"{k} {v}" for k, v in judgments["by_verdict"].items())
    print(f"judgments  {judgments['in_force']} in force ({verdicts}); {judgments['undone']} undone")
    annotators = stats["annotators"]
    assert isinstance(annotators, dict)
    for name, counts in annotators.items():
        print(f"  {name:<20} {counts['judgments']}")


def _print_preview(chosen: cli_settings.ExportSettings, manifest: dict[str, Any]) -> None:
    """The first records as the trainer will see them, through the given chat template."""
    template = preview.load_template(chosen.chat_template, chosen.tokenizer)
    first_file = chosen.out / next(iter(manifest["files"].values()))
    for number, record in enumerate(write.read_jsonl_head(first_file, chosen.preview), start=1):
        for label, text in preview.render_record(record, template):
            print(f"\n----- record {number} · {label} " + "-" * 40)
            print(text, end="" if text.endswith("\n") else "\n")


def run(chosen: cli_settings.Settings) -> int:
    if isinstance(chosen, cli_settings.ServeSettings | cli_settings.DemoSettings):
        from apps import server  # gradio is imported only when serving

        return server.run(chosen)
    if isinstance(chosen, cli_settings.RestoreSettings):
        manifest = backup.restore_backup(chosen.source, chosen.db)
        rows = ", ".join(f"{table} {count}" for table, count in manifest["rows"].items() if count)
        print(f"restored {chosen.db} from {chosen.source} (made {manifest['created_at']}): {rows}")
        return 0
    store = _open(chosen.db)
    try:
        return _run_with_store(chosen, store)
    finally:
        store.close()


def _open(db: Path) -> Store:
    return open_store(db)


def _run_with_store(chosen: cli_settings.Settings, store: Store) -> int:
    if isinstance(chosen, cli_settings.ImportSettings):
        _print_import(import_files(store, list(chosen.files), fmt=chosen.format, dataset=chosen.dataset))
    elif isinstance(chosen, cli_settings.UserAddSettings):
        user = users.add_user(store, chosen.name, chosen.role, _read_password(chosen.password_stdin), utc_now)
        print(f"added {user.role.value} {user.name!r}")
    elif isinstance(chosen, cli_settings.UserListSettings):
        for user in users.list_users(store):
            print(f"{user.name}\t{user.role.value}")
    elif isinstance(chosen, cli_settings.TokenCreateSettings):
        token, info = tokens.create_token(store, chosen.user, chosen.label, utc_now)
        print(token)
        print(f"token {info.id} for {info.user_name!r}: shown once, keep it secret", file=sys.stderr)
    elif isinstance(chosen, cli_settings.TokenListSettings):
        for info in tokens.list_tokens(store):
            state = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "active"
            print(f"{info.id}\t{info.user_name}\t{state}\t{info.label}")
    elif isinstance(chosen, cli_settings.TokenRevokeSettings):
        info = tokens.revoke_token(store, chosen.token_id, utc_now)
        print(f"revoked token {info.id} of {info.user_name!r}")
    elif isinstance(chosen, cli_settings.ExportSettings):
        manifest = run_export(
            store, chosen.out, kind=chosen.kind, target=chosen.target, options=chosen.options, now=utc_now
        )
        skipped = ", ".join(f"{k} {v}" for k, v in manifest["skipped"].items())
        split = manifest["split"]
        sizes = {"train": split.get("train_records"), "eval": split.get("eval_records")}
        written = ", ".join(
            str(chosen.out / name) + (f" ({sizes[part]})" if sizes.get(part) is not None else "")
            for part, name in manifest["files"].items()
        )
        print(f"wrote {manifest['records']} record(s) to {written}")
        print(f"  skipped pairs: {skipped}; manifest: {chosen.out / 'manifest.json'}")
        if manifest["limits"].get("over_max_tokens"):
            print(
                f"  dropped {manifest['limits']['over_max_tokens']} record(s) over {chosen.max_tokens} tokens"
            )
        excluded = manifest["split"]["records_excluded_as_eval_items"]
        if excluded:
            print(f"  kept out {excluded} record(s) of items that earlier exports put in an eval split")
        if chosen.preview and (chosen.options.parquet or chosen.options.yaml):
            print("(previews read JSONL: export without --parquet/--yaml to preview)", file=sys.stderr)
        elif chosen.preview:
            _print_preview(chosen, manifest)
        for warning in manifest["warnings"]:
            print(f"warning: {warning}", file=sys.stderr)
    elif isinstance(chosen, cli_settings.BackupSettings):
        manifest = backup.write_backup(store, chosen.out, now=utc_now(), version=version("prefdesk"))
        rows, tables = sum(manifest["rows"].values()), len(manifest["files"])
        print(f"backed up {rows} rows in {tables} tables to {chosen.out}")
    elif isinstance(chosen, cli_settings.StatsSettings):
        stats = desk_stats(store)
        if chosen.as_json:
            print(json.dumps(stats, indent=2))
        else:
            _print_stats(stats)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    chosen = cli_settings.parse(argv)
    try:
        return run(chosen)
    except (PrefdeskError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
