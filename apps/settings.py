"""The only reader of command-line flags and environment variables.

`parse(argv)` returns one frozen settings object per subcommand; everything below apps/ receives
plain values. Environment: PREFDESK_DB is the default for --db, PREFDESK_PORT for --port.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from exports.options import (
    AGGREGATIONS,
    BOTH_BAD_POLICIES,
    KINDS,
    NEAR_DUPLICATE_METHODS,
    PAIR_MODES,
    TIE_POLICIES,
    ExportOptions,
)
from labeling.ingest_formats import FORMATS

DEFAULT_PORT = 7860


@dataclass(frozen=True)
class WordingFlags:
    """--question, --user-label, --assistant-label, --system-label: None when not given, ""
    to put a field back to its neutral default."""

    question: str | None = None
    user_label: str | None = None
    assistant_label: str | None = None
    system_label: str | None = None

    def change(self) -> dict[str, str | None]:
        return {name: value for name, value in vars(self).items() if value is not None}


@dataclass(frozen=True)
class ImportSettings:
    db: Path
    files: tuple[Path, ...]
    format: str
    dataset: str | None
    wording: WordingFlags = WordingFlags()


@dataclass(frozen=True)
class DatasetListSettings:
    db: Path


@dataclass(frozen=True)
class DatasetSetSettings:
    db: Path
    name: str
    wording: WordingFlags


@dataclass(frozen=True)
class UserAddSettings:
    db: Path
    name: str
    role: str
    password_stdin: bool
    password: str = field(default="", repr=False)  # asked for before the command runs


@dataclass(frozen=True)
class UserListSettings:
    db: Path


@dataclass(frozen=True)
class TokenCreateSettings:
    db: Path
    user: str
    label: str


@dataclass(frozen=True)
class TokenListSettings:
    db: Path


@dataclass(frozen=True)
class TokenRevokeSettings:
    db: Path
    token_id: str


@dataclass(frozen=True)
class ServeSettings:
    db: Path
    host: str
    port: int
    overlap: int | None = None  # judgments wanted per pair; None: everyone judges every pair
    exports_dir: Path | None = None  # where REST exports are written; default: beside the store
    judgment_rate: float = 5.0  # judgments (and undos) per second per annotator; 0: no limit
    judgment_burst: int = 20  # of them at once, after a pause


@dataclass(frozen=True)
class ExportSettings:
    db: Path
    kind: str
    target: str
    out: Path
    options: ExportOptions
    preview: int = 0
    chat_template: Path | None = None
    tokenizer: Path | None = None  # also the preview's template source


@dataclass(frozen=True)
class EvalRegistryListSettings:
    db: Path
    items: bool  # also list each eval set's item ids


@dataclass(frozen=True)
class EvalRegistryRemoveSettings:
    db: Path
    export_id: str  # an eval set's export id, or a unique start of it


@dataclass(frozen=True)
class BackupSettings:
    db: Path
    out: Path


@dataclass(frozen=True)
class RestoreSettings:
    source: Path
    db: Path


@dataclass(frozen=True)
class StatsSettings:
    db: Path
    as_json: bool


@dataclass(frozen=True)
class DemoSettings:
    db: Path
    host: str
    port: int
    fresh: bool


Settings = (
    ImportSettings
    | DatasetListSettings
    | DatasetSetSettings
    | UserAddSettings
    | UserListSettings
    | TokenCreateSettings
    | TokenListSettings
    | TokenRevokeSettings
    | ServeSettings
    | ExportSettings
    | EvalRegistryListSettings
    | EvalRegistryRemoveSettings
    | StatsSettings
    | BackupSettings
    | RestoreSettings
    | DemoSettings
)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535)")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text} is not a rate (0 or more a second; 0: no limit)")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return value


def _add_wording_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        'wording shown to annotators (one line each; "" puts a field back to its default)'
    )
    group.add_argument("--question", help='the question asked (default: "Which response is better?")')
    group.add_argument("--user-label", help="the label of user turns (default: User)")
    group.add_argument("--assistant-label", help="the label of earlier assistant turns (default: Assistant)")
    group.add_argument("--system-label", help='the label of the system prompt (default: "System prompt")')


def _wording_flags(args: argparse.Namespace) -> WordingFlags:
    return WordingFlags(args.question, args.user_label, args.assistant_label, args.system_label)


def build_parser() -> argparse.ArgumentParser:
    db_default = os.environ.get("PREFDESK_DB")
    db_help = "the store file (DuckDB); " + (
        f"default from PREFDESK_DB: {db_default}" if db_default else "required unless PREFDESK_DB is set"
    )

    port_default = os.environ.get("PREFDESK_PORT", str(DEFAULT_PORT))  # argparse checks it with _port
    port_help = f"default {DEFAULT_PORT}, or PREFDESK_PORT"

    def add_db(parser: argparse.ArgumentParser) -> None:
        # Not argparse's `required`: its usage line would call --db required even with PREFDESK_DB set.
        parser.add_argument("--db", type=Path, default=db_default, help=db_help)

    parser = argparse.ArgumentParser(
        prog="prefdesk", description="A preference desk for LLM teams: judge responses, export training data."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    imp = commands.add_parser("import", help="import items and responses (JSONL, JSON, CSV, Parquet)")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    add_db(imp)
    imp.add_argument("--format", default="auto", choices=("auto", *FORMATS))
    imp.add_argument("--dataset", help="dataset name (default: the first file's name)")
    _add_wording_flags(imp)

    datasets = commands.add_parser("datasets", help="list datasets, set the wording annotators see")
    dataset_commands = datasets.add_subparsers(dest="datasets_command", required=True, metavar="ACTION")
    add_db(dataset_commands.add_parser("list", help="each dataset's items, pairs and wording"))
    set_wording = dataset_commands.add_parser("set", help="set a dataset's question and turn labels")
    set_wording.add_argument("name", metavar="NAME")
    add_db(set_wording)
    _add_wording_flags(set_wording)

    users = commands.add_parser("users", help="manage accounts")
    user_commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = user_commands.add_parser("add", help="add an account (asks for the password)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("admin", "annotator"))
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add_db(add)
    listing = user_commands.add_parser("list", help="list accounts")
    add_db(listing)

    tokens = commands.add_parser("tokens", help="API tokens for the REST API")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    create = token_commands.add_parser("create", help="make a token for a user (printed once)")
    create.add_argument("user")
    create.add_argument("--label", default="", help="what the token is for")
    add_db(create)
    add_db(token_commands.add_parser("list", help="list tokens (ids, owners; never the secrets)"))
    revoke = token_commands.add_parser("revoke", help="stop a token from working")
    revoke.add_argument("token_id", metavar="ID")
    add_db(revoke)

    serve = commands.add_parser("serve", help="serve the desk in the browser and the REST API")
    add_db(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=port_default, help=port_help)
    serve.add_argument(
        "--overlap",
        type=_positive,
        help="judgments wanted per pair (default: every annotator judges every pair)",
    )
    serve.add_argument("--exports-dir", type=Path, help="where REST exports go (default: STORE_DIR/exports)")
    serve.add_argument(
        "--judgment-rate",
        type=_rate,
        default=5.0,
        metavar="PER_SECOND",
        help="judgments and undos per second per annotator, sustained (default 5; 0: no limit)",
    )
    serve.add_argument(
        "--judgment-burst", type=_positive, default=20, help="of them at once, after a pause (default 20)"
    )

    export = commands.add_parser(
        "export", help="write a training file, an eval set or a table of the judgments"
    )
    export.add_argument("kind", choices=tuple(KINDS))
    export.add_argument("--target", required=True, choices=sorted({t for ts in KINDS.values() for t in ts}))
    add_db(export)
    export.add_argument("--out", type=Path, required=True, help="output folder")
    export.add_argument(
        "--dataset", action="append", default=[], dest="datasets", help="only this dataset (repeatable)"
    )
    export.add_argument("--standard", action="store_true", help="dpo/trl: plain strings, not messages")
    export.add_argument(
        "--prompt-completion", action="store_true", help="sft/trl: prompt + completion, not messages"
    )
    export.add_argument("--aggregate", default="majority", choices=AGGREGATIONS)
    export.add_argument("--min-agreement", type=_fraction, default=0.0, help="winner's share of votes, 0-1")
    export.add_argument("--ties", default="drop", choices=TIE_POLICIES, help="pairs whose verdict is a tie")
    export.add_argument("--both-bad", default="drop", choices=BOTH_BAD_POLICIES)
    export.add_argument(
        "--pairs", default="all", choices=PAIR_MODES, help="3+ responses per prompt: which pairs to export"
    )
    export.add_argument(
        "--eval-fraction",
        type=_fraction,
        default=0.0,
        help="share of records for an eval split (0-1); evals: the share of judged items to sample",
    )
    export.add_argument("--seed", type=int, default=0, help="seed of the train/eval split")
    export.add_argument(
        "--near-duplicates",
        default="minhash",
        choices=NEAR_DUPLICATE_METHODS,
        help="how near-duplicate prompts are found for splits (embeddings: the embeddings extra)",
    )
    export.add_argument(
        "--all-items",
        action="store_true",
        help="evals: every judged item is the eval set (or choose a sample with --eval-fraction)",
    )
    export.add_argument(
        "--allow-eval-overlap", action="store_true", help="train on items that earlier exports put in eval"
    )
    export.add_argument(
        "--allow-empty", action="store_true", help="write the export even if it holds no records"
    )
    export.add_argument("--max-tokens", type=int, help="drop (and count) records longer than this")
    export.add_argument(
        "--preview", type=int, default=0, metavar="N", help="print N records through a chat template"
    )
    export.add_argument("--chat-template", type=Path, help="a Jinja chat template file for --preview")
    export.add_argument("--parquet", action="store_true", help="TRL targets: write Parquet instead of JSONL")
    export.add_argument("--yaml", action="store_true", help="promptfoo: one YAML list of test cases")
    export.add_argument(
        "--save-to-disk",
        action="store_true",
        help="also save a datasets.DatasetDict in DIR/hf_dataset (trl extra)",
    )
    export.add_argument(
        "--tokenizer",
        type=Path,
        help="a local tokenizer.json (or its folder) for --max-tokens; default tiktoken",
    )

    evals = commands.add_parser("evals", help="eval sets: the items training exports keep out")
    evals_commands = evals.add_subparsers(dest="evals_command", required=True, metavar="WHAT")
    eval_registry = evals_commands.add_parser("registry", help="the eval registry: list or undo eval sets")
    registry_commands = eval_registry.add_subparsers(dest="registry_command", required=True, metavar="ACTION")
    registry_list = registry_commands.add_parser("list", help="every eval set: id, export, date, items")
    registry_list.add_argument("--items", action="store_true", help="also list each eval set's item ids")
    add_db(registry_list)
    registry_remove = registry_commands.add_parser(
        "remove", help="undo an eval set's registrations (its items may be trained on again)"
    )
    registry_remove.add_argument("export_id", metavar="ID", help="the eval set's id (a unique start will do)")
    add_db(registry_remove)

    stats = commands.add_parser("stats", help="counts of items, responses and judgments")
    add_db(stats)
    stats.add_argument("--json", action="store_true", dest="as_json")

    backup = commands.add_parser("backup", help="snapshot the store as Parquet files in a new folder")
    add_db(backup)
    backup.add_argument("--out", type=Path, required=True, help="a new (or empty) folder")
    restore = commands.add_parser("restore", help="create a new store from a backup folder")
    restore.add_argument("--from", type=Path, required=True, dest="source", help="the backup folder")
    add_db(restore)

    demo = commands.add_parser("demo", help="create a demo store from the bundled emails and serve it")
    demo.add_argument("--db", type=Path, default=Path(".prefdesk/demo.duckdb"))
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=_port, default=port_default, help=port_help)
    demo.add_argument("--fresh", action="store_true", help="start from an empty demo store")
    return parser


def absolute(value: Any, cwd: Path) -> Any:
    """`value` (a settings object) with every path in it made absolute against `cwd`: a command
    then means the same files wherever it runs (here, or inside the desk that serves the store)."""
    if isinstance(value, Path):
        value = value.expanduser()
        return value if value.is_absolute() else cwd / value
    if isinstance(value, tuple):
        return tuple(absolute(part, cwd) for part in value)
    if is_dataclass(value) and not isinstance(value, type):
        changed = {f.name: absolute(getattr(value, f.name), cwd) for f in fields(value) if f.init}
        return replace(value, **changed)
    return value


def parse(argv: Sequence[str] | None = None) -> Settings:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "db", "") is None:
        parser.error(f"{args.command}: --db PATH is required (or set PREFDESK_DB)")
    if args.command == "import":
        return ImportSettings(args.db, tuple(args.files), args.format, args.dataset, _wording_flags(args))
    if args.command == "datasets":
        if args.datasets_command == "list":
            return DatasetListSettings(args.db)
        flags = _wording_flags(args)
        if not flags.change():
            parser.error(
                "datasets set: give one or more of --question, --user-label, "
                "--assistant-label, --system-label"
            )
        return DatasetSetSettings(args.db, args.name, flags)
    if args.command == "users":
        if args.users_command == "add":
            return UserAddSettings(args.db, args.name, args.role, args.password_stdin)
        return UserListSettings(args.db)
    if args.command == "tokens":
        if args.tokens_command == "create":
            return TokenCreateSettings(args.db, args.user, args.label)
        if args.tokens_command == "revoke":
            return TokenRevokeSettings(args.db, args.token_id)
        return TokenListSettings(args.db)
    if args.command == "serve":
        return ServeSettings(
            args.db,
            args.host,
            args.port,
            args.overlap,
            args.exports_dir,
            judgment_rate=args.judgment_rate,
            judgment_burst=args.judgment_burst,
        )
    if args.command == "export":
        options = ExportOptions.from_flags(vars(args))
        return ExportSettings(
            args.db,
            args.kind,
            args.target,
            args.out,
            options,
            args.preview,
            args.chat_template,
            args.tokenizer,
        )
    if args.command == "evals":
        if args.registry_command == "remove":
            return EvalRegistryRemoveSettings(args.db, args.export_id)
        return EvalRegistryListSettings(args.db, args.items)
    if args.command == "backup":
        return BackupSettings(args.db, args.out)
    if args.command == "restore":
        return RestoreSettings(args.source, args.db)
    if args.command == "stats":
        return StatsSettings(args.db, args.as_json)
    return DemoSettings(args.db, args.host, args.port, args.fresh)
