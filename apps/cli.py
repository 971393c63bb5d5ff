"""`prefdesk ...`: parses flags (apps/settings.py), then runs the command's handler
(apps/commands.py) on the store: inside the desk that serves it, over its control socket
(apps/control.py), or here, opening the store the way the command needs (read-only for readers;
only `import` may create one). `prefdesk --help` and `prefdesk stats` load no exporter.

Exit codes: 0 done, 1 the input or the store was refused (the message says why), 2 bad usage.
"""

from __future__ import annotations

import contextlib
import getpass
import io
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps import control
from apps import settings as cli_settings
from apps.commands import HANDLERS, Context, run_with_store, terminal_actor
from labeling.errors import BadUserInput, PrefdeskError
from store.errors import StoreError

if TYPE_CHECKING:
    from store.db import Store


# Commands that only read: they open the store read-only, so they never wait for a writer's lock
# (two can run at once) and can never change it.
READ_ONLY = (
    cli_settings.StatsSettings,
    cli_settings.UserListSettings,
    cli_settings.TokenListSettings,
    cli_settings.DatasetListSettings,
    cli_settings.EvalRegistryListSettings,
    cli_settings.AuditSettings,
)


# Commands a person runs by hand and waits for: they should answer at once.
QUICK = (
    *READ_ONLY,
    cli_settings.UserAddSettings,
    cli_settings.UserDisableSettings,
    cli_settings.UserEnableSettings,
    cli_settings.UserPasswdSettings,
    cli_settings.UserSetRoleSettings,
    cli_settings.TokenCreateSettings,
    cli_settings.TokenRevokeSettings,
    cli_settings.DatasetSetSettings,
)


def _keep_pandas_out() -> None:
    """DuckDB's Python client imports pandas (installed here because Gradio needs it) at the
    first query with parameters, to recognise pandas values: 0.5-1 s of a 0.2 s command. These
    commands pass none, so pandas is marked absent for this process (only if not yet loaded)."""
    sys.modules.setdefault("pandas", None)  # type: ignore[arg-type]


def _open_for(chosen: cli_settings.Settings) -> Store:
    """The store a command works on. Only `import` may create one; the readers open it
    read-only (unless its schema needs the upgrade that every writing open applies)."""
    from store.db import latest_schema_version, open_store

    creates = isinstance(chosen, cli_settings.ImportSettings)
    if isinstance(chosen, READ_ONLY):
        store = open_store(chosen.db, read_only=True)
        if store.schema_version() == latest_schema_version():
            return store
        store.close()
    return open_store(chosen.db, create=creates)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise BadUserInput(
            "no terminal to ask for the password on: pass it on standard input with --password-stdin, "
            "e.g. `printf '%s\\n' \"$PASSWORD\" | prefdesk users add NAME --role annotator --password-stdin`"
        )
    try:
        first = getpass.getpass("Password: ")
        again = getpass.getpass("Repeat password: ")
    except EOFError:
        raise BadUserInput("no password was typed (end of input): nothing was changed") from None
    if again != first:
        raise BadUserInput("the two passwords differ")
    return first


# Commands that take a password, asked for before they run (and sent to a serving desk).
WITH_PASSWORD = (cli_settings.UserAddSettings, cli_settings.UserPasswdSettings)


def prepare(chosen: cli_settings.Settings) -> cli_settings.Settings:
    """What a command needs from the person at the terminal, asked before it runs."""
    if isinstance(chosen, WITH_PASSWORD):
        return replace(chosen, password=_read_password(chosen.password_stdin))
    return chosen


def _desk_request(chosen: cli_settings.Settings, argv: Sequence[str]) -> dict[str, Any]:
    request: dict[str, Any] = {"argv": list(argv), "db": str(chosen.db), "cwd": str(Path.cwd())}
    if isinstance(chosen, WITH_PASSWORD):
        request["password"] = chosen.password
    return request


def run_for_desk(request: dict[str, Any], store: Store, *, login_required: bool) -> dict[str, Any]:
    """Inside a serving desk: run a command line sent by `prefdesk` over the control socket on
    the desk's own store, and return what it printed and its exit code."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err):  # argparse writes its usage errors there
            chosen = cli_settings.parse([*request["argv"], "--db", request["db"]])
        chosen = cli_settings.absolute(chosen, Path(request["cwd"]))
    except SystemExit as exc:
        return {"out": "", "err": err.getvalue(), "code": exc.code if isinstance(exc.code, int) else 2}
    if not hasattr(chosen, "db") or type(chosen) not in HANDLERS:
        return {"out": "", "err": "error: a serving desk runs store commands only\n", "code": 2}
    if Path(chosen.db).resolve() != Path(store.path).resolve():
        return {"out": "", "err": f"error: this desk serves {store.path}, not {chosen.db}\n", "code": 2}
    if isinstance(chosen, WITH_PASSWORD):
        chosen = replace(chosen, password=str(request.get("password", "")))
    # Who asked, for the audit log: the uid the kernel gave for the caller (apps/control.py).
    ctx = Context(store, out, err, actor=terminal_actor(request.get("peer_uid")))
    try:
        code = run_with_store(chosen, ctx)
    except (PrefdeskError, StoreError) as exc:
        ctx.warn(f"error: {exc}")
        code = 1
    if code == 0 and isinstance(chosen, cli_settings.UserAddSettings) and not login_required:
        ctx.warn(
            "note: the desk serving this store started without accounts and asks no one to sign in; "
            "restart `prefdesk serve` to make it require sign-in"
        )
    return {"out": out.getvalue(), "err": err.getvalue(), "code": code}


def run(chosen: cli_settings.Settings, argv: Sequence[str]) -> int:
    if isinstance(chosen, cli_settings.ServeSettings | cli_settings.DemoSettings):
        if isinstance(chosen, cli_settings.ServeSettings):
            _refuse_before_loading(chosen)
        from apps import server  # gradio is imported only when serving

        return server.run(chosen)
    if isinstance(chosen, cli_settings.RestoreSettings):
        from store import backup

        manifest = backup.restore_backup(chosen.source, chosen.db)
        rows = ", ".join(f"{table} {count}" for table, count in manifest["rows"].items() if count)
        print(f"restored {chosen.db} from {chosen.source} (made {manifest['created_at']}): {rows}")
        return 0
    reply = control.ask_desk(chosen.db, _desk_request(chosen, argv))
    if reply is not None:  # a desk serves this store: it ran the command
        sys.stdout.write(reply["out"])
        sys.stderr.write(reply["err"])
        return int(reply["code"])
    if isinstance(chosen, QUICK):
        _keep_pandas_out()
    store = _open_for(chosen)
    try:
        return run_with_store(chosen, Context(store))
    finally:
        store.close()


def _refuse_before_loading(settings: cli_settings.ServeSettings) -> None:
    """What `serve` refuses from the store alone (no such store; no accounts beyond this
    machine), said at once rather than after Gradio has loaded (seconds)."""
    if control.ask_desk(settings.db, {"ping": True}) is not None:
        return  # a desk serves it: apps.server says so
    from apps.hosts import check_host
    from store.db import latest_schema_version, open_store

    store = open_store(settings.db, read_only=True)
    try:
        if store.schema_version() == latest_schema_version():  # else the desk migrates it first
            check_host(store, settings.host)
    finally:
        store.close()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = cli_settings.parse(argv)
    try:
        return run(cli_settings.absolute(prepare(chosen), Path.cwd()), argv)
    except (PrefdeskError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
