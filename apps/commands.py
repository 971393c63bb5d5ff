"""What each `prefdesk` command does with a store: one handler per command, `(settings,
context) -> exit code`, writing only to `context.out` and `context.err`, so that the same
handler runs in the terminal's process or inside the desk that serves the store (apps/cli.py
decides which) and prints the same words either way. Heavy modules are imported inside the
handlers that use them.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from apps import settings as cli_settings

if TYPE_CHECKING:
    from labeling.ingest import ImportReport
    from labeling.models import Wording
    from store.db import Store


def terminal_actor(uid: int | None = None) -> str:
    """Who runs a command, for the audit log: "cli:<os user>" (of `uid`, or of this process)."""
    try:
        if uid is None:
            return f"cli:{getpass.getuser()}"
        import pwd

        return f"cli:{pwd.getpwuid(uid).pw_name}"
    except (KeyError, OSError):
        return f"cli:uid {os.getuid() if uid is None else uid}"


@dataclass
class Context:
    """What a handler may use: the open store, where its words go, and who runs it (for the
    audit log: the OS user at the terminal, also when a serving desk runs the command)."""

    store: Store
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    actor: str = field(default_factory=terminal_actor)

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def warn(self, text: str) -> None:
        print(text, file=self.err)


def _print_import(ctx: Context, report: ImportReport) -> None:
    if not report.added_anything:
        ctx.say(f"nothing new: {report.records} record(s) already stored in dataset {report.dataset!r}")
    else:
        ctx.say(
            f"imported into dataset {report.dataset!r}: {report.items_added} item(s), "
            f"{report.responses_added} response(s), {report.pairs_added} pair(s) to judge "
            f"from {report.records} record(s)"
        )
    if report.items_already_stored and report.added_anything:
        ctx.say(f"  {report.items_already_stored} item(s) were already stored (only new responses added)")
    if report.duplicate_records:
        ctx.say(f"  {report.duplicate_records} repeated record(s) ignored")
    for reason, count in report.skipped.items():
        ctx.say(f"  skipped {count}: {reason}")
    if report.wording is not None:
        _print_wording(ctx, report.wording, f"dataset {report.dataset!r} now asks: ")


def _print_wording(ctx: Context, wording: Wording, lead: str = "  ") -> None:
    ctx.say(f"{lead}{wording.question!r}")
    ctx.say(
        f"  turns: user {wording.user_label!r}, assistant {wording.assistant_label!r}, "
        f"system {wording.system_label!r}"
    )


def _import(chosen: cli_settings.ImportSettings, ctx: Context) -> int:
    from labeling.ingest import import_files

    report = import_files(
        ctx.store,
        list(chosen.files),
        fmt=chosen.format,
        dataset=chosen.dataset,
        wording=chosen.wording.change(),
        limits=chosen.limits,
    )
    _print_import(ctx, report)
    return 0


def _dataset_list(chosen: cli_settings.DatasetListSettings, ctx: Context) -> int:
    from labeling.wording import list_datasets

    infos = list_datasets(ctx.store)
    if not infos:
        ctx.say("no datasets yet: `prefdesk import FILE --db ...` adds one")
    for info in infos:
        own = [name.replace("_", " ") for name, value in info.chosen.items() if value is not None]
        ctx.say(f"{info.name}\t{info.items} item(s)\t{info.pairs} pair(s)")
        _print_wording(ctx, info.wording, "  asks: ")
        ctx.say(f"  wording: {'set: ' + ', '.join(own) if own else 'the neutral default'}")
    return 0


def _dataset_set(chosen: cli_settings.DatasetSetSettings, ctx: Context) -> int:
    from labeling.clock import utc_now
    from labeling.wording import set_wording

    wording = set_wording(
        ctx.store, chosen.name, chosen.wording.change(), set_by="prefdesk datasets set", now=utc_now
    )
    _print_wording(ctx, wording, f"dataset {chosen.name!r} now asks: ")
    return 0


def _user_add(chosen: cli_settings.UserAddSettings, ctx: Context) -> int:
    from labeling import users
    from labeling.clock import utc_now

    user = users.add_user(ctx.store, chosen.name, chosen.role, chosen.password, utc_now, by=ctx.actor)
    ctx.say(f"added {user.role.value} {user.name!r}")
    return 0


def _user_list(chosen: cli_settings.UserListSettings, ctx: Context) -> int:
    from labeling import users

    for account in users.list_accounts(ctx.store):
        state = f"disabled {account.disabled_at:%Y-%m-%d %H:%M}" if account.disabled_at else "active"
        ctx.say(f"{account.name}\t{account.role.value}\t{state}")
    return 0


def _user_disable(chosen: cli_settings.UserDisableSettings, ctx: Context) -> int:
    from labeling import users
    from labeling.clock import utc_now

    change = users.disable_user(ctx.store, chosen.name, utc_now, by=ctx.actor)
    if not change.changed:
        ctx.say(f"{chosen.name!r} was already disabled (since {change.before.disabled_at:%Y-%m-%d %H:%M})")
        return 0
    ctx.say(
        f"disabled {chosen.name!r}: no sign-in, and their sessions and API tokens stop working at once; "
        f"their judgments stay (`prefdesk users enable {chosen.name}` undoes this)"
    )
    return 0


def _user_enable(chosen: cli_settings.UserEnableSettings, ctx: Context) -> int:
    from labeling import users
    from labeling.clock import utc_now

    change = users.enable_user(ctx.store, chosen.name, utc_now, by=ctx.actor)
    if not change.changed:
        ctx.say(f"{chosen.name!r} is not disabled: nothing changed")
        return 0
    ctx.say(
        f"enabled {chosen.name!r}: they can sign in again, and their API tokens that are neither revoked "
        "nor expired work again"
    )
    return 0


def _user_passwd(chosen: cli_settings.UserPasswdSettings, ctx: Context) -> int:
    from labeling import users
    from labeling.clock import utc_now

    users.set_password(ctx.store, chosen.name, chosen.password, utc_now, by=ctx.actor)
    ctx.say(
        f"changed the password of {chosen.name!r}: their browser sessions ended; their API tokens still "
        "work (`prefdesk tokens revoke ID` ends one)"
    )
    return 0


def _user_set_role(chosen: cli_settings.UserSetRoleSettings, ctx: Context) -> int:
    from labeling import users
    from labeling.clock import utc_now

    change = users.set_role(ctx.store, chosen.name, chosen.role, utc_now, by=ctx.actor)
    if not change.changed:
        ctx.say(f"{chosen.name!r} is already {chosen.role}: nothing changed")
        return 0
    ctx.say(
        f"{chosen.name!r} is now {change.after.role.value} (was {change.before.role.value}), "
        "at their next request, in the browser and through their API tokens"
    )
    return 0


def _audit(chosen: cli_settings.AuditSettings, ctx: Context) -> int:
    from labeling import audit

    events = audit.last_events(ctx.store, chosen.limit)
    if not events:
        ctx.say("no account or token changes recorded yet")
    for event in events:
        detail = " ".join(
            f"{key}={value}" for key, value in sorted(event.detail.items()) if value is not None
        )
        ctx.say(
            f"{event.changed_at:%Y-%m-%d %H:%M:%S}\t{event.actor or '(not recorded)'}\t{event.action}\t"
            f"{event.target}\t{detail}".rstrip("\t")
        )
    return 0


def _token_create(chosen: cli_settings.TokenCreateSettings, ctx: Context) -> int:
    from labeling import tokens
    from labeling.clock import utc_now

    token, info = tokens.create_token(
        ctx.store, chosen.user, chosen.label, utc_now, expires_in=chosen.expires_in, by=ctx.actor
    )
    ctx.say(token)
    until = f", works until {info.expires_at:%Y-%m-%d %H:%M} UTC" if info.expires_at else ""
    ctx.warn(f"token {info.id} for {info.user_name!r}{until}: shown once, keep it secret")
    return 0


def _token_list(chosen: cli_settings.TokenListSettings, ctx: Context) -> int:
    from labeling import tokens
    from labeling.clock import utc_now

    now = utc_now()
    for info in tokens.list_tokens(ctx.store):
        if info.revoked_at:
            state = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}"
        elif info.expires_at and info.expires_at <= now:
            state = f"expired {info.expires_at:%Y-%m-%d %H:%M}"
        elif info.expires_at:
            state = f"active until {info.expires_at:%Y-%m-%d %H:%M}"
        else:
            state = "active"
        made_by = f"by {info.created_by}" if info.created_by else "by (not recorded)"
        ctx.say(f"{info.id}\t{info.user_name}\t{state}\t{made_by}\t{info.label}")
    return 0


def _token_revoke(chosen: cli_settings.TokenRevokeSettings, ctx: Context) -> int:
    from labeling import tokens
    from labeling.clock import utc_now

    info = tokens.revoke_token(ctx.store, chosen.token_id, utc_now, by=ctx.actor)
    ctx.say(f"revoked token {info.id} of {info.user_name!r}")
    return 0


def _print_preview(
    ctx: Context, chosen: cli_settings.ExportSettings, manifest: dict[str, Any], template: str
) -> None:
    """The first records as the trainer will see them, through the given chat template."""
    from exports import preview, write

    first_file = chosen.out / next(iter(manifest["files"].values()))
    for number, record in enumerate(write.read_jsonl_head(first_file, chosen.preview), start=1):
        for label, text in preview.render_record(record, template):
            ctx.say(f"\n----- record {number} · {label} " + "-" * 40)
            print(text, end="" if text.endswith("\n") else "\n", file=ctx.out)


def _preview_template(chosen: cli_settings.ExportSettings) -> str | None:
    """The chat template --preview renders with, checked before anything is written."""
    from exports import preview
    from labeling.errors import ExportError

    if not chosen.preview or chosen.options.parquet or chosen.options.yaml:
        return None
    if chosen.kind == "judgments":
        raise ExportError("--preview shows training and eval records; a judgments table has none")
    if chosen.options.standard:
        raise ExportError("--preview renders conversational records; --standard writes plain text")
    return preview.load_template(chosen.chat_template, chosen.tokenizer)


def _exports_named(exports: list[dict[str, Any]]) -> str:
    from labeling.models import ExportRef

    return "; ".join(f"{ExportRef.from_dict(e).describe()}: {e['items']} item(s)" for e in exports)


def _print_registry_effects(ctx: Context, manifest: dict[str, Any]) -> None:
    """What an export kept out because of eval sets, and what it registered as eval items."""
    split = manifest["split"]
    if split.get("records_excluded_as_eval_items"):
        ctx.say(
            f"  kept out {split['records_excluded_as_eval_items']} record(s) of "
            f"{split['items_excluded_as_eval_items']} item(s) held as eval items by eval set(s) "
            f"{_exports_named(split['excluded_by_eval_sets'])}"
        )
    registration = manifest.get("eval_registry")
    if registration:
        already = registration["already_registered"]
        by = f" by {_exports_named(registration['already_registered_by'])}" if already else ""
        ctx.say(
            f"  registered {registration['items_registered']} eval item(s) as eval set "
            f"{manifest['export_id'][:8]}: {registration['new']} new, {already} already registered{by}"
        )
        trained = registration["in_earlier_training_exports"]
        if trained:
            ctx.say(
                f"  {trained} of them were in earlier training exports: "
                f"{_exports_named(registration['training_exports'])}"
            )
        else:
            ctx.say("  none of them is in an earlier training export")


def _export(chosen: cli_settings.ExportSettings, ctx: Context) -> int:
    from exports.run import run_export
    from labeling.clock import utc_now
    from labeling.errors import ExportError

    template = _preview_template(chosen)  # a flag that cannot work is refused before writing
    manifest = run_export(
        ctx.store, chosen.out, kind=chosen.kind, target=chosen.target, options=chosen.options, now=utc_now
    )
    if chosen.kind == "judgments":
        written = chosen.out / next(iter(manifest["files"].values()))
        ctx.say(f"wrote {manifest['records']} judgment(s) in force to {written}")
        ctx.say(f"  manifest: {chosen.out / 'manifest.json'}")
    else:
        skipped = ", ".join(f"{k} {v}" for k, v in manifest["skipped"].items())
        split = manifest["split"]
        sizes = {"train": split.get("train_records"), "eval": split.get("eval_records")}
        several = len(manifest["files"]) > 1
        written_files = ", ".join(
            str(chosen.out / name) + (f" ({sizes[part]})" if several and sizes.get(part) is not None else "")
            for part, name in manifest["files"].items()
        )
        ctx.say(f"wrote {manifest['records']} record(s) to {written_files}")
        ctx.say(f"  skipped pairs: {skipped}; manifest: {chosen.out / 'manifest.json'}")
        if manifest["limits"].get("over_max_tokens"):
            limits = manifest["limits"]
            ctx.say(f"  dropped {limits['over_max_tokens']} record(s) over {limits['max_tokens']} tokens")
        _print_registry_effects(ctx, manifest)
    if chosen.preview and template is None:
        ctx.warn("(previews read JSONL: export without --parquet/--yaml to preview)")
    elif template is not None:
        try:
            _print_preview(ctx, chosen, manifest, template)
        except ExportError as exc:  # the export is written and recorded: say so, don't fail it
            ctx.warn(f"warning: the preview failed ({exc}); the export itself was written")
    for warning in manifest["warnings"]:
        ctx.warn(f"warning: {warning}")
    return 0


def _evals_registry_list(chosen: cli_settings.EvalRegistryListSettings, ctx: Context) -> int:
    from exports import eval_registry

    sets = eval_registry.list_eval_sets(ctx.store)
    if not sets:
        ctx.say(
            "no eval sets: `prefdesk export evals ...` registers one, and so does a training export's "
            "eval split (--eval-fraction)"
        )
        return 0
    for eval_set in sets:
        export = eval_set.export
        state = f"removed {eval_set.removed_at:%Y-%m-%d %H:%M}" if eval_set.removed_at else "in force"
        ctx.say(
            f"{export.short_id}\t{export.kind}/{export.target}\t{export.created_at:%Y-%m-%d %H:%M}\t"
            f"{eval_set.items} item(s)\t{state}\t{export.out_dir}"
        )
        if chosen.items:
            for item_id in eval_registry.eval_set_items(ctx.store, export.id):
                ctx.say(f"  {item_id}")
    in_force = [s for s in sets if s.removed_at is None]
    ctx.say(
        f"{eval_registry.registered_item_count(ctx.store)} item(s) kept out of training by "
        f"{len(in_force)} eval set(s) in force"
    )
    return 0


def _evals_registry_remove(chosen: cli_settings.EvalRegistryRemoveSettings, ctx: Context) -> int:
    from exports import eval_registry
    from labeling.clock import utc_now

    removal = eval_registry.remove_eval_set(ctx.store, chosen.export_id, now=utc_now)
    export = removal.eval_set.export
    ctx.say(
        f"removed eval set {export.describe()}: {removal.freed} of its {removal.eval_set.items} item(s) "
        "may be trained on again"
    )
    if removal.still_held_items:
        held = "; ".join(f"{e.describe()}: {n} item(s)" for e, n in removal.still_held)
        ctx.say(f"  {removal.still_held_items} item(s) stay eval items, held by other eval set(s): {held}")
    ctx.say(
        f"  its files in {export.out_dir} are unchanged; the removal is recorded "
        "(`prefdesk evals registry list` shows the set as removed)"
    )
    return 0


def _backup(chosen: cli_settings.BackupSettings, ctx: Context) -> int:
    from importlib.metadata import version

    from labeling.clock import utc_now
    from store import backup

    manifest = backup.write_backup(ctx.store, chosen.out, now=utc_now(), version=version("prefdesk"))
    rows, tables = sum(manifest["rows"].values()), len(manifest["files"])
    ctx.say(f"backed up {rows} rows in {tables} tables to {chosen.out}")
    return 0


def _print_stats(ctx: Context, stats: dict[str, Any]) -> None:
    judgments = stats["judgments"]
    ctx.say(f"items      {stats['items']}")
    ctx.say(f"responses  {stats['responses']}")
    ctx.say(f"pairs      {stats['pairs']}")
    verdicts = ", ".join(f"{k} {v}" for k, v in judgments["by_verdict"].items())
    ctx.say(f"judgments  {judgments['in_force']} in force ({verdicts}); {judgments['undone']} undone")
    for name, counts in stats["annotators"].items():
        ctx.say(f"  {name:<20} {counts['judgments']}")


def _stats(chosen: cli_settings.StatsSettings, ctx: Context) -> int:
    from labeling.stats import desk_stats

    stats = desk_stats(ctx.store)
    if chosen.as_json:
        ctx.say(json.dumps(stats, indent=2))
    else:
        _print_stats(ctx, stats)
    return 0


Handler = Callable[[Any, Context], int]
HANDLERS: dict[type, Handler] = {
    cli_settings.ImportSettings: _import,
    cli_settings.DatasetListSettings: _dataset_list,
    cli_settings.DatasetSetSettings: _dataset_set,
    cli_settings.UserAddSettings: _user_add,
    cli_settings.UserListSettings: _user_list,
    cli_settings.UserDisableSettings: _user_disable,
    cli_settings.UserEnableSettings: _user_enable,
    cli_settings.UserPasswdSettings: _user_passwd,
    cli_settings.UserSetRoleSettings: _user_set_role,
    cli_settings.AuditSettings: _audit,
    cli_settings.TokenCreateSettings: _token_create,
    cli_settings.TokenListSettings: _token_list,
    cli_settings.TokenRevokeSettings: _token_revoke,
    cli_settings.ExportSettings: _export,
    cli_settings.EvalRegistryListSettings: _evals_registry_list,
    cli_settings.EvalRegistryRemoveSettings: _evals_registry_remove,
    cli_settings.BackupSettings: _backup,
    cli_settings.StatsSettings: _stats,
}


def run_with_store(chosen: cli_settings.Settings, ctx: Context) -> int:
    return HANDLERS[type(chosen)](chosen, ctx)
