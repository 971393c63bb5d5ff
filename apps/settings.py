"""The only reader of command-line flags and environment variables.

`parse(argv)` returns one frozen settings object per subcommand; everything below apps/ receives
plain values. Environment: PREFDESK_DB is the default for --db, PREFDESK_PORT for --port.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import timedelta
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
from labeling.clock import describe_duration, parse_duration
from labeling.errors import BadUserInput
from labeling.ingest.formats import FORMATS
from labeling.models import ImportLimits

DEFAULT_PORT = 7860
DEFAULT_MAX_IMPORT_MB = 64


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
    limits: ImportLimits = ImportLimits()


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
class UserDisableSettings:
    db: Path
    name: str


@dataclass(frozen=True)
class UserEnableSettings:
    db: Path
    name: str


@dataclass(frozen=True)
class UserPasswdSettings:
    db: Path
    name: str
    password_stdin: bool
    password: str = field(default="", repr=False)  # asked for before the command runs


@dataclass(frozen=True)
class UserSetRoleSettings:
    db: Path
    name: str
    role: str


@dataclass(frozen=True)
class AuditSettings:
    db: Path
    limit: int  # the newest this many events


@dataclass(frozen=True)
class TokenCreateSettings:
    db: Path
    user: str
    label: str
    expires_in: timedelta | None = None  # None: works until revoked


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
    max_import_mb: int = DEFAULT_MAX_IMPORT_MB  # body limit of POST /api/v1/items
    allowed_origins: tuple[str, ...] = ()  # other sites' pages that may call the REST API
    public_origin: str | None = None  # the desk's own address as browsers see it
    ssl_certfile: Path | None = None  # both or neither: the desk speaks HTTPS itself
    ssl_keyfile: Path | None = None
    forwarded_allow_ips: tuple[str, ...] = ()  # proxies whose X-Forwarded-* headers are believed
    session_lifetime: timedelta = timedelta(hours=12)  # a browser session ends this long after sign-in
    session_idle: timedelta = timedelta(hours=2)  # ... or this long after its last request
    judgment_rate: float = 5.0  # judgments (and undos) per second per annotator; 0: no limit
    judgment_burst: int = 20  # of them at once, after a pause
    engine_threads: int | None = None  # DuckDB's worker threads in the serving process; None: one per core


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
    | UserDisableSettings
    | UserEnableSettings
    | UserPasswdSettings
    | UserSetRoleSettings
    | AuditSettings
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


def _origin(text: str) -> str:
    """A browser origin, `scheme://host[:port]`, lower-cased and without a trailing slash: the
    exact string a browser sends in its Origin header."""
    match = re.fullmatch(r"(https?)://([a-z0-9.-]+|\[[0-9a-f:.]+\])(:[0-9]{1,5})?/?", text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an origin: give scheme://host[:port], e.g. https://desk.example.com"
        )
    return f"{match[1]}://{match[2]}{match[3] or ''}"


def _addresses(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except BadUserInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    caps = ImportLimits()
    imp.add_argument(
        "--max-responses",
        type=_positive,
        default=caps.max_responses_per_item,
        help=f"responses per item when all are paired (default {caps.max_responses_per_item})",
    )
    imp.add_argument(
        "--max-pairs",
        type=_positive,
        default=caps.max_pairs,
        help=f"pairs per import (default {caps.max_pairs:,})",
    )
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
    listing = user_commands.add_parser("list", help="list accounts, their roles and states")
    add_db(listing)
    disable = user_commands.add_parser(
        "disable", help="stop an account at once: sign-in, its sessions and tokens (judgments stay)"
    )
    disable.add_argument("name")
    add_db(disable)
    enable = user_commands.add_parser("enable", help="let a disabled account sign in again")
    enable.add_argument("name")
    add_db(enable)
    passwd = user_commands.add_parser("passwd", help="set a new password (ends the account's sessions)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add_db(passwd)
    set_role = user_commands.add_parser("set-role", help="make an account admin or annotator")
    set_role.add_argument("name")
    set_role.add_argument("role", choices=("admin", "annotator"))
    add_db(set_role)

    audit = commands.add_parser("audit", help="who changed which account or token, and when")
    add_db(audit)
    audit.add_argument("--limit", type=_positive, default=50, help="the newest N events (default 50)")

    tokens = commands.add_parser("tokens", help="API tokens for the REST API")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    create = token_commands.add_parser("create", help="make a token for a user (printed once)")
    create.add_argument("user")
    create.add_argument("--label", default="", help="what the token is for")
    create.add_argument(
        "--expires-in", type=_duration, metavar="DURATION", help="e.g. 30d, 12h: it stops working then"
    )
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
        "--max-import-mb",
        type=_positive,
        default=DEFAULT_MAX_IMPORT_MB,
        help=f"largest body POST /api/v1/items accepts, in MiB (default {DEFAULT_MAX_IMPORT_MB})",
    )
    edge = serve.add_argument_group("on a network (docs/security.md)")
    edge.add_argument("--ssl-certfile", type=Path, help="serve HTTPS with this certificate (PEM)")
    edge.add_argument("--ssl-keyfile", type=Path, help="the certificate's private key (PEM)")
    edge.add_argument(
        "--public-origin",
        type=_origin,
        help="the desk's address as browsers reach it, e.g. https://desk.example.com",
    )
    edge.add_argument(
        "--allowed-origin",
        type=_origin,
        action="append",
        default=[],
        dest="allowed_origins",
        help="another site whose pages may call the REST API (repeatable; default: none)",
    )
    edge.add_argument(
        "--forwarded-allow-ips",
        type=_addresses,
        default=(),
        help="addresses of reverse proxies whose X-Forwarded-For/-Proto are believed (comma-separated)",
    )
    serve.add_argument(
        "--session-lifetime",
        type=_duration,
        default=ServeSettings.session_lifetime,
        metavar="DURATION",
        help="sign in again this long after signing in "
        f"(default {describe_duration(ServeSettings.session_lifetime)})",
    )
    serve.add_argument(
        "--session-idle",
        type=_duration,
        default=ServeSettings.session_idle,
        metavar="DURATION",
        help="... or after this long without a request "
        f"(default {describe_duration(ServeSettings.session_idle)})",
    )
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
    serve.add_argument(
        "--engine-threads",
        type=_positive,
        metavar="N",
        help="the store engine's worker threads (default: one per core)",
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
        limits = ImportLimits(max_responses_per_item=args.max_responses, max_pairs=args.max_pairs)
        return ImportSettings(
            args.db, tuple(args.files), args.format, args.dataset, _wording_flags(args), limits
        )
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
        if args.users_command == "disable":
            return UserDisableSettings(args.db, args.name)
        if args.users_command == "enable":
            return UserEnableSettings(args.db, args.name)
        if args.users_command == "passwd":
            return UserPasswdSettings(args.db, args.name, args.password_stdin)
        if args.users_command == "set-role":
            return UserSetRoleSettings(args.db, args.name, args.role)
        return UserListSettings(args.db)
    if args.command == "audit":
        return AuditSettings(args.db, args.limit)
    if args.command == "tokens":
        if args.tokens_command == "create":
            return TokenCreateSettings(args.db, args.user, args.label, args.expires_in)
        if args.tokens_command == "revoke":
            return TokenRevokeSettings(args.db, args.token_id)
        return TokenListSettings(args.db)
    if args.command == "serve":
        if (args.ssl_certfile is None) != (args.ssl_keyfile is None):
            parser.error("serve: --ssl-certfile and --ssl-keyfile go together: give both")
        for flag, path in (("--ssl-certfile", args.ssl_certfile), ("--ssl-keyfile", args.ssl_keyfile)):
            if path is not None and not path.is_file():
                parser.error(f"serve: {flag} {path}: no such file")
        return ServeSettings(
            args.db,
            args.host,
            args.port,
            args.overlap,
            args.exports_dir,
            max_import_mb=args.max_import_mb,
            allowed_origins=tuple(dict.fromkeys(args.allowed_origins)),
            public_origin=args.public_origin,
            ssl_certfile=args.ssl_certfile,
            ssl_keyfile=args.ssl_keyfile,
            forwarded_allow_ips=args.forwarded_allow_ips,
            session_lifetime=args.session_lifetime,
            session_idle=args.session_idle,
            judgment_rate=args.judgment_rate,
            judgment_burst=args.judgment_burst,
            engine_threads=args.engine_threads,
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
