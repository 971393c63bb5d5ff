"""`prefdesk export KIND --target TARGET`: from the judgment log to a checked training file.

    manifest = run_export(store, Path("out"), kind="dpo", target="trl", now=utc_now)
    # out/dpo_trl.jsonl, out/manifest.json, out/README.md (a dataset card)

select (exports/select.py) -> build records (trl.py, openai.py) -> split, keeping registered
eval items out (split.py, eval_registry.py) -> refuse an empty export (empty.py) -> check every
record (checks.py; plain records' lines are written by the store where their check is sure to
pass: lines.py) -> write atomically (write.py) -> record the export, the items of its
training file and its eval items in the store. `kind="judgments"` writes a table instead
(table.py).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from exports import eval_registry, evals, table, write
from exports.empty import Funnel, why_empty
from exports.lines import Lines, lines_for
from exports.options import (  # noqa: F401  (re-exported)
    KINDS,
    NEAR_DUPLICATE_METHODS,
    TRAINING_KINDS,
    ExportOptions,
)
from exports.registry import export_format
from exports.select import (
    Decided,
    LabelledResponse,
    LabelRef,
    PreferenceExample,
    Selection,
    Target,
    TargetRef,
    agreement_figures,
    labelled_responses,
    parse_prompt,
    preferred_targets,
    ranked_pairs,
    select_preferences,
)
from exports.split import plan_split
from exports.tokens import TokenCounter, local_counter, tiktoken_counter
from labeling.errors import ExportError
from labeling.models import Message, Role
from labeling.perf import gc_paused
from store import judgments as log
from store import registry
from store.db import Cursor, Store, Tx

if TYPE_CHECKING:
    import pyarrow as pa

OPENAI_MINIMUM_EXAMPLES = 10


BATCH_RECORDS = 16_384  # records whose texts are read, built and checked together


Source = PreferenceExample | Target | LabelledResponse  # what a record builder takes


# A record to be: the ids it is built from (its texts are read per batch, when it is built: an
# export never holds every text at once), its item and group, and what it came from (`origin`).
Entry = Decided | TargetRef | LabelRef


def _batches(entries: Iterable[Entry], size: int) -> Iterator[list[Entry]]:
    batch: list[Entry] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def with_texts(cur: Cursor, entries: Iterable[Entry]) -> Iterator[tuple[Entry, Source]]:
    """Each entry with what its record is built from, in order: texts read a batch at a time (one
    query for the batch's prompts, one for its responses), each prompt parsed once per batch."""
    for batch in _batches(entries, BATCH_RECORDS):
        prompt_json = log.prompts_by_row(cur, (entry.item_row for entry in batch))
        texts = log.responses_by_row(cur, (row for entry in batch for row in entry.response_rows()))
        prompts: dict[int, tuple[Message, ...]] = {}
        for entry in batch:
            row = entry.item_row
            prompt = prompts.get(row)
            if prompt is None:
                prompt = prompts[row] = parse_prompt(prompt_json[row])
            yield entry, entry.with_texts(prompt, texts)


def _answers(source: Source) -> tuple[str, ...]:
    """The answer text(s) a record trains or grades, for token limits."""
    if isinstance(source, PreferenceExample):
        return (source.chosen, source.rejected)
    if isinstance(source, Target):
        return (source.answer,)
    return (source.completion,)


def _user_text(prompt: tuple[Message, ...]) -> str:
    """What near-duplicate detection compares: the user's turns (a shared system prompt would
    make every item of a dataset look alike)."""
    return "\n".join(m.content for m in prompt if m.role is Role.USER)


def _validate(kind: str, target: str, options: ExportOptions) -> None:
    if kind not in KINDS:
        raise ExportError(f"unknown export kind {kind!r} (use {', '.join(KINDS)})")
    if target not in KINDS[kind]:
        raise ExportError(f"{kind} exports to {' or '.join(KINDS[kind])}, not {target!r}")
    if options.standard and (kind, target) != ("dpo", "trl"):
        raise ExportError("--standard applies to dpo --target trl only")
    if options.prompt_completion and (kind, target) != ("sft", "trl"):
        raise ExportError("--prompt-completion applies to sft --target trl only")
    if not 0.0 <= options.eval_fraction < 1.0:
        raise ExportError(f"--eval-fraction must be at least 0 and below 1, got {options.eval_fraction}")
    if options.max_tokens is not None and options.max_tokens < 1:
        raise ExportError(f"--max-tokens must be a positive number, got {options.max_tokens}")
    if options.near_duplicates not in NEAR_DUPLICATE_METHODS:
        raise ExportError(
            f"unknown near-duplicate method {options.near_duplicates!r} (use minhash or embeddings)"
        )
    if options.yaml and target != "promptfoo":
        raise ExportError("--yaml applies to evals --target promptfoo only")
    if options.parquet and target != "trl":
        if kind == "judgments":
            raise ExportError("a judgments table takes --target parquet, not --parquet")
        raise ExportError(f"--parquet applies to TRL targets; {target} takes JSONL")
    if options.policy.both_bad == "kto" and kind != "kto":
        raise ExportError("--both-bad kto applies to kto exports only (both answers become negatives)")
    if options.all_items and kind != "evals":
        raise ExportError("--all-items applies to evals exports only (an eval set of every judged item)")
    if options.allow_eval_overlap and kind == "evals":
        raise ExportError(
            "--allow-eval-overlap applies to training exports: an eval set is never kept from its items"
        )
    if kind == "evals" and options.all_items and options.eval_fraction:
        raise ExportError(
            "--all-items and --eval-fraction choose an eval set's items two ways: give one of them"
        )
    if kind == "evals" and not (options.all_items or options.eval_fraction):
        raise ExportError(
            "an eval set needs its items chosen: --eval-fraction F registers a sample of F of the "
            "judged items (whole clusters of same-group and near-duplicate prompts, drawn with --seed) "
            "and leaves the rest free for training; --all-items registers every judged item, so that "
            "no later training export can use any of them (until `prefdesk evals registry remove ID`)"
        )
    if kind == "judgments":
        _validate_table(options)


def _validate_table(options: ExportOptions) -> None:
    """A judgments table is every judgment in force as it is: selection and format options would
    be silently ignored, so they are refused."""
    defaults = ExportOptions()
    given = [
        flag
        for flag, name in (
            ("--aggregate/--min-agreement/--ties/--both-bad/--pairs", "policy"),
            ("--standard", "standard"),
            ("--prompt-completion", "prompt_completion"),
            ("--eval-fraction", "eval_fraction"),
            ("--all-items", "all_items"),
            ("--allow-eval-overlap", "allow_eval_overlap"),
            ("--near-duplicates", "near_duplicates"),
            ("--max-tokens", "max_tokens"),
            ("--save-to-disk", "save_to_disk"),
        )
        if getattr(options, name) != getattr(defaults, name)
    ]
    if given:
        raise ExportError(
            f"a judgments table holds every judgment in force as it is: {', '.join(given)} do not apply "
            "to it (only --dataset and --allow-empty do)"
        )


def _entries(
    kind: str, target: str, selection: Selection, options: ExportOptions
) -> tuple[list[Entry], Callable[[Any], dict[str, Any]], dict[str, int]]:
    """The records to build, the builder that makes one, and the kind's counts."""
    counts: dict[str, int] = {}
    if kind in ("dpo", "reward"):
        build: Callable[[Any], dict[str, Any]]
        if kind == "reward":
            # One shape for every row: a margin column only if every pair has a strength to give it.
            with_margin = bool(selection.examples) and all(e.margin is not None for e in selection.examples)
            counts["margin_column"] = int(with_margin)
            build = partial(export_format(kind, target).load_builder(), with_margin=with_margin)
        elif target == "openai":
            build = export_format(kind, target).load_builder()
        else:
            build = partial(export_format(kind, target).load_builder(), standard=options.standard)
        entries: list[Entry] = list(selection.examples)
        return entries, build, counts
    if kind in ("evals", "sft"):
        targets = preferred_targets(selection.examples)
        counts["items_with_a_target"] = len(targets)
        if kind == "evals":
            build = export_format(kind, target).load_builder()
            if target == "promptfoo":  # texts promptfoo would load (or run) as files stay out: _screen
                counts["left_out_as_promptfoo_file_references"] = 0
        elif target == "openai":
            build = export_format(kind, target).load_builder()
        else:
            build = partial(
                export_format(kind, target).load_builder(), prompt_completion=options.prompt_completion
            )
        return list(targets), build, counts
    labels, conflicts = labelled_responses(selection)
    counts["responses_labelled_both_ways_dropped"] = conflicts
    counts["desirable"] = sum(label.label for label in labels)
    counts["undesirable"] = len(labels) - counts["desirable"]
    return list(labels), export_format(kind, target).load_builder(), counts


class Screened(NamedTuple):
    entries: list[Entry]  # what is left after the promptfoo and token-limit screens
    candidates: int  # entries before the token limit (after the promptfoo screen)
    limits: dict[str, Any]  # the manifest's account of --max-tokens
    cluster_inputs: dict[str, tuple[str, str]]  # item id -> (group key, user turns), when a split needs them


def _screen(
    cur: Cursor,
    kind: str,
    target: str,
    entries: list[Entry],
    build: Callable[[Any], dict[str, Any]],
    counts: dict[str, int],
    options: ExportOptions,
    need_clusters: bool,
) -> Screened:
    """The passes over the texts that come before the split: promptfoo's file references left out,
    records over --max-tokens dropped, and what the split clusters items by. Texts are read a
    batch at a time and let go; none of this runs when none of it is asked for."""
    promptfoo = kind == "evals" and target == "promptfoo"
    counter: TokenCounter | None = None
    limits: dict[str, Any] = {"max_tokens": None}
    if options.max_tokens is not None:
        counter = local_counter(options.tokenizer) if options.tokenizer else tiktoken_counter()
    if not (promptfoo or counter or need_clusters):
        return Screened(entries, len(entries), limits, {})
    kept: list[Entry] = []
    inputs: dict[str, tuple[str, str]] = {}
    left_out = over = 0
    for entry, source in with_texts(cur, entries):
        if promptfoo and evals.promptfoo_would_load(build(source)):
            left_out += 1
            continue
        if (
            counter is not None
            and options.max_tokens is not None
            and counter.record((m.content for m in source.prompt), _answers(source)) > options.max_tokens
        ):
            over += 1
            continue
        kept.append(entry)
        if need_clusters and entry.item_id not in inputs:
            inputs[entry.item_id] = (entry.group_key, _user_text(source.prompt))
    if promptfoo:
        counts["left_out_as_promptfoo_file_references"] = left_out
    if counter is not None:
        limits = {"max_tokens": options.max_tokens, "tokenizer": counter.name, "over_max_tokens": over}
    return Screened(kept, len(entries) - left_out, limits, inputs)


def check_records(
    kind: str,
    target: str,
    sources: Iterable[tuple[Entry, Source]],
    build: Callable[[Any], dict[str, Any]],
) -> Iterator[tuple[Entry, dict[str, Any]]]:
    """Build and check every record, in order; fail the export, naming the item, on the first
    record that breaks its format's rules."""
    check = RecordCheck(kind, target)
    for entry, source in sources:
        record = build(source)
        check(entry, record)
        yield entry, record


class RecordCheck:
    """Each record checked by its format's rules, and held to the first record's fields and
    value types (TRL reads the format from row one): a broken one fails the export, naming its item."""

    def __init__(self, kind: str, target: str) -> None:
        self.kind, self.target = kind, target
        self._check = export_format(kind, target).load_check()
        self.first: tuple[tuple[str, ...], tuple[type, ...]] | None = None

    def __call__(self, entry: Entry, record: dict[str, Any]) -> None:
        problem = self._check(record)
        if problem is None:
            # checks.shape, split in two so that both halves are made in C: keys, then value types
            shape = (tuple(record), tuple(map(type, record.values())))
            if self.first is None:
                self.first = shape
            elif shape != self.first:
                problem = "its fields differ from the first record's (TRL reads the format from row one)"
        if problem is not None:
            raise ExportError(
                f"{self.kind} {self.target}: the record for item {entry.item_id!r} ({entry.origin}) is "
                f"broken: {problem}. Nothing was written."
            )


def checked_lines(
    cur: Cursor,
    kind: str,
    target: str,
    entries: list[Entry],
    build: Callable[[Any], dict[str, Any]],
    lines: Lines | None,
) -> Iterator[tuple[list[Entry], list[str] | pa.Array]]:
    """check_records for JSONL, a batch at a time: each batch's entries and their lines, in order
    (an Arrow array of them when the store wrote them all, so that they are written as they are).

    The store writes the lines of plain records (exports/lines.py: only where the check is sure to
    pass); every other record is built and checked as check_records does, with its messages. The
    first record is always built and checked: every row's shape is held to its shape."""
    import pyarrow as pa

    check = RecordCheck(kind, target)
    for batch in _batches(entries, BATCH_RECORDS):
        made: list[str | None] = [None] * len(batch)
        store_made: pa.Array | None = None
        if lines is not None:
            # columns of ints: no tuple per record (the cyclic GC would scan them all again)
            columns: dict[str, Any] = {
                "n": pa.array(range(len(batch)), type=pa.int64()),
                "item_row": pa.array([entry.item_row for entry in batch], type=pa.int64()),
                "text_1": pa.array(list(map(lines.text_1, batch)), type=pa.int64()),
            }
            if lines.text_2 is not None:
                columns["text_2"] = pa.array(list(map(lines.text_2, batch)), type=pa.int64())
            for name, value in lines.extras.items():
                columns[name] = pa.array([value(entry) for entry in batch], type=pa.string())
            template = lines.template
            store_made = log.record_lines(
                cur,
                pa.table(columns),
                template.parts,
                last_role=template.last_role,
                distinct_texts=template.distinct_texts,
            )
            if store_made.null_count == 0 and check.first is not None:
                yield batch, store_made
                continue
            made = store_made.to_pylist()
        if check.first is None:
            made[0] = None  # built and checked: the shape every line is held to
        slow = [n for n, line in enumerate(made) if line is None]
        if slow:
            prompt_json = log.prompts_by_row(cur, (batch[n].item_row for n in slow))
            texts = log.responses_by_row(cur, (row for n in slow for row in batch[n].response_rows()))
            for n in slow:
                entry = batch[n]
                record = build(entry.with_texts(parse_prompt(prompt_json[entry.item_row]), texts))
                check(entry, record)
                made[n] = write.jsonl_line(record).decode("utf-8")
        yield batch, cast(list[str], made)


def _write_data(
    cur: Cursor,
    kind: str,
    target: str,
    entries: list[Entry],
    build: Callable[[Any], dict[str, Any]],
    splits: dict[str, list[Entry]],
    out_dir: Path,
    files: dict[str, str],
    options: ExportOptions,
    lines: Lines | None,
) -> None:
    """Check every record (kept or not), and write the kept ones to their split's file."""
    single = len(splits) == 1 and next(iter(splits.values())) is entries
    where = {} if single else {id(entry): name for name, kept in splits.items() for entry in kept}
    if options.parquet or options.yaml:  # whole-file formats: every record checked first
        records: dict[str, list[dict[str, Any]]] = {name: [] for name in splits}
        only = next(iter(splits))
        for entry, record in check_records(kind, target, with_texts(cur, entries), build):
            if (name := only if single else where.get(id(entry))) is not None:
                records[name].append(record)
        write.prepare_dir(out_dir)
        writer = write.write_parquet if options.parquet else write.write_yaml_list
        for name, kept in records.items():
            writer(out_dir / files[name], kept)
        return
    with write.line_files(out_dir, files) as sinks:  # a broken record removes them again
        for batch, made in checked_lines(cur, kind, target, entries, build, lines):
            if single:
                write.write_text_lines(next(iter(sinks.values())), made)
                continue
            split_of = [where.get(id(entry)) for entry in batch]
            for name, sink in sinks.items():
                write.write_text_lines(sink, made, [split == name for split in split_of])


def run_export(
    store: Store,
    out_dir: Path,
    *,
    kind: str,
    target: str,
    options: ExportOptions | None = None,
    now: Callable[[], datetime],
) -> dict[str, Any]:
    """Write DIR/{kind}_{target}.jsonl, manifest.json and README.md; return the manifest.

    Refused (ExportError, nothing written or recorded) when the flags contradict each other or
    when the export would hold no records, unless `options.allow_empty`."""
    options = options or ExportOptions()
    _validate(kind, target, options)
    if kind == "judgments":
        return _export_judgments(store, out_dir, target=target, options=options, now=now)
    with store.snapshot() as cur:
        return _export_records(store, cur, out_dir, kind=kind, target=target, options=options, now=now)


def _export_records(
    store: Store,
    cur: Cursor,
    out_dir: Path,
    *,
    kind: str,
    target: str,
    options: ExportOptions,
    now: Callable[[], datetime],
) -> dict[str, Any]:
    export_id = str(uuid.uuid4())
    summary = log.log_summary(cur, options.datasets)
    registered_items = (
        registry.registered_eval_items(cur)
        if kind in TRAINING_KINDS and not options.allow_eval_overlap
        else set()
    )
    with gc_paused():  # 10^5-10^6 small tuples: the cyclic GC would rescan them again and again
        selection = select_preferences(
            log.pair_ballots(cur, options.datasets),
            summary["pairs_with_every_judgment_undone"],
            options.policy,
        )
    agreement = agreement_figures(selection.several_votes)
    selection.several_votes = []
    selection.examples = ranked_pairs(selection.examples, options.policy.pairs)
    entries, build, kind_counts = _entries(kind, target, selection, options)
    if kind == "evals":
        need_clusters = not options.all_items
    else:
        need_clusters = options.eval_fraction > 0 or any(
            entry.item_id in registered_items for entry in entries
        )
    screened = _screen(cur, kind, target, entries, build, kind_counts, options, need_clusters)
    entries, limits = screened.entries, screened.limits
    split = _split(kind, entries, options, registered_items, screened.cluster_inputs)
    splits = split.parts
    stem = f"{kind}_{target}"
    single, suffix = len(splits) == 1, "parquet" if options.parquet else "yaml" if options.yaml else "jsonl"
    files = {name: f"{stem}.{suffix}" if single else f"{stem}.{name}.{suffix}" for name in splits}
    warnings = []
    if target == "openai" and len(splits.get("train", [])) < OPENAI_MINIMUM_EXAMPLES:
        warnings.append(
            f"OpenAI fine-tuning needs at least {OPENAI_MINIMUM_EXAMPLES} examples; "
            f"the training file has {len(splits['train'])}"
        )
    if kind_counts.get("left_out_as_promptfoo_file_references"):
        warnings.append(
            f"{kind_counts['left_out_as_promptfoo_file_references']} item(s) left out: a prompt or answer "
            "starts with file://, which promptfoo would load as a file (and run, for .py/.js)"
        )
    kept_out = None
    if split.excluded_records:
        kept_out = eval_registry.kept_out(
            store, split.excluded_records, len(split.excluded_items), split.excluded_items & registered_items
        )
        split.summary["excluded_by_eval_sets"] = kept_out.manifest()["eval_sets"]
        warnings.append(kept_out.warning())
    records = sum(len(entries) for entries in splits.values())
    manifest: dict[str, Any] = {
        "kind": kind,
        "target": target,
        "files": files,
        "records": records,
        "pairs_judged": selection.pairs_judged,
        "skipped": selection.skipped,
        "agreement": agreement,
        "filters": {"datasets": list(options.datasets) or "all"},
        "selection": options.policy.describe(),
        "format": {"standard": options.standard, "prompt_completion": options.prompt_completion},
        "split": split.summary,
        "limits": limits,
        "counts": kind_counts,
        "judgments": summary,
        "store": Path(store.path).name,  # the file's name: the server's folders are not the reader's business
        "export_id": export_id,
        "created_at": now().isoformat(timespec="seconds") + "Z",
        "prefdesk_version": version("prefdesk"),
    }
    eval_items = {entry.item_id for entry in splits.get("eval", [])}
    if eval_items:  # an eval set, or an eval split: never to be trained on
        registration = eval_registry.registration(store, eval_items)
        manifest["eval_registry"] = registration.manifest()
        warnings.extend(registration.warnings())
    manifest["warnings"] = warnings
    training = splits.get("train") if kind in TRAINING_KINDS else None
    if records == 0 or training == []:
        funnel = Funnel(
            kind,
            target,
            pairs_judged=selection.pairs_judged,
            skipped=selection.skipped,
            policy=options.policy,
            labelled_both_ways=kind_counts.get("responses_labelled_both_ways_dropped", 0),
            candidates=screened.candidates,
            max_tokens=options.max_tokens,
            over_max_tokens=limits.get("over_max_tokens", 0),
            kept_out=split.excluded_records,
            kept_out_by=tuple(export for export, _ in kept_out.by) if kept_out else (),
            eval_records=len(splits.get("eval", [])),
        )
        what = "0 records" if records == 0 else "an empty training file"
        warnings.append(_refuse_empty(store, kind, target, options, funnel, summary, what))
        if records == 0:
            warnings.append(NO_ROWS_TO_LOAD)
    # A failure part way (a broken record, a full disk, a store that cannot be written) removes
    # what was written: a failed export leaves no files and no record.
    with write.new_files(out_dir):
        lines = lines_for(kind, target, options, with_margin=bool(kind_counts.get("margin_column")))
        _write_data(cur, kind, target, entries, build, splits, out_dir, files, options, lines)
        if options.save_to_disk:
            manifest["saved_to_disk"] = str(write.save_to_disk(out_dir, files).relative_to(out_dir))
        write.write_json(out_dir / "manifest.json", manifest)
        write.write_dataset_card(out_dir, manifest)

        def record(tx: Tx) -> None:
            cur = tx.cur
            if eval_items:
                registry.register_eval_items(cur, eval_items, export_id=export_id, now=now())
            if training:
                registry.record_training_items(
                    cur, (entry.item_id for entry in training), export_id=export_id
                )
            registry.record_export(
                cur,
                export_id=export_id,
                kind=kind,
                target=target,
                out_dir=str(out_dir.resolve()),
                manifest=manifest,
                now=now(),
            )

        store.write(record)
    return manifest


# datasets.load_dataset(DIR) on files without a line stops with a bare StopIteration.
NO_ROWS_TO_LOAD = (
    "its files hold no rows: datasets.load_dataset cannot read this folder (it learns the columns "
    "from the rows); export again once there are records"
)


def _refuse_empty(
    store: Store,
    kind: str,
    target: str,
    options: ExportOptions,
    funnel: Funnel,
    summary: dict[str, Any],
    what: str,
) -> str:
    """Raise ExportError saying why the export would hold `what`, or (with --allow-empty) return
    the same words as a manifest warning."""
    with store.cursor() as cur:
        per_dataset = log.judged_pairs_per_dataset(cur)
    funnel = replace(
        funnel,
        datasets=options.datasets,
        known_datasets={name: judged for name, (judged, _) in per_dataset.items()},
        undone_per_dataset={name: undone for name, (_, undone) in per_dataset.items()},
        judgments_in_force=summary["pair_judgments_in_force"],
        pairs_all_undone=summary["pairs_with_every_judgment_undone"],
    )
    reason = why_empty(funnel)
    if not options.allow_empty:
        raise ExportError(
            f"{kind} {target} would write {what}: {reason}. Nothing was written; --allow-empty writes "
            "it anyway"
        )
    return f"this export has {what} (written anyway, --allow-empty): {reason}"


def _export_judgments(
    store: Store, out_dir: Path, *, target: str, options: ExportOptions, now: Callable[[], datetime]
) -> dict[str, Any]:
    """DIR/judgments.{csv,parquet,jsonl}: one row per judgment in force (exports/table.py)."""
    export_id = str(uuid.uuid4())
    with store.cursor() as cur:
        summary = log.log_summary(cur, options.datasets)
        raw = log.judgments_in_force_table(cur, options.datasets)
    rows = table.judgment_rows(raw, times_as_text=target != "parquet")
    warnings = []
    if rows.num_rows == 0:
        funnel = Funnel("judgments", target)
        warnings.append(_refuse_empty(store, "judgments", target, options, funnel, summary, "0 rows"))
    name = table.FILE_NAMES[target]
    manifest: dict[str, Any] = {
        "kind": "judgments",
        "target": target,
        "files": {"judgments": name},
        "records": rows.num_rows,
        "columns": list(table.COLUMNS),
        "filters": {"datasets": list(options.datasets) or "all"},
        "judgments": summary,
        "store": Path(store.path).name,  # the file's name: the server's folders are not the reader's business
        "export_id": export_id,
        "created_at": now().isoformat(timespec="seconds") + "Z",
        "prefdesk_version": version("prefdesk"),
        "warnings": warnings,
    }
    writers = {
        "csv": write.write_table_csv,
        "parquet": write.write_table_parquet,
        "jsonl": write.write_table_jsonl,
    }
    with write.new_files(out_dir):  # as run_export: a failure leaves no files and no record
        writers[target](out_dir / name, rows)
        write.write_json(out_dir / "manifest.json", manifest)
        write.write_dataset_card(out_dir, manifest)

        def record(tx: Tx) -> None:
            cur = tx.cur
            registry.record_export(
                cur,
                export_id=export_id,
                kind="judgments",
                target=target,
                out_dir=str(out_dir.resolve()),
                manifest=manifest,
                now=now(),
            )

        store.write(record)
    return manifest


class Split(NamedTuple):
    parts: dict[str, list[Entry]]  # {"train": ...}, {"train": ..., "eval": ...} or {"eval": ...}
    summary: dict[str, Any]  # the manifest's account of it
    excluded_items: frozenset[str] = frozenset()  # kept out: registered eval items and their clusters
    excluded_records: int = 0


def _split(
    kind: str,
    built: list[Entry],
    options: ExportOptions,
    registered_items: set[str],
    cluster_inputs: dict[str, tuple[str, str]],
) -> Split:
    """A training export: its training file, and an eval split with --eval-fraction; registered
    eval items go to the eval split or out. An eval set: `_eval_set`."""
    summary: dict[str, Any] = {
        "eval_fraction": options.eval_fraction,
        "seed": options.seed,
        "near_duplicates": options.near_duplicates,
    }
    if kind == "evals":
        return _eval_set(built, options, summary, cluster_inputs)
    summary.update(
        {
            "allow_eval_overlap": options.allow_eval_overlap,
            "registered_eval_items_known": len(registered_items),
        }
    )
    if options.eval_fraction == 0 and not (registered_items & {entry.item_id for entry in built}):
        summary.update({"records_excluded_as_eval_items": 0, "items_excluded_as_eval_items": 0})
        return Split({"train": built}, summary)
    per_item = Counter(entry.item_id for entry in built)
    plan = plan_split(
        cluster_inputs,
        per_item,
        eval_fraction=options.eval_fraction,
        seed=options.seed,
        registered=registered_items,
        near_duplicates=options.near_duplicates,
    )
    train = [e for e in built if e.item_id not in plan.eval_items and e.item_id not in plan.excluded_items]
    excluded_records = sum(per_item[i] for i in plan.excluded_items)
    summary["records_excluded_as_eval_items"] = excluded_records
    summary["items_excluded_as_eval_items"] = len(plan.excluded_items)
    summary["clusters"] = plan.clusters
    if options.eval_fraction == 0:
        return Split({"train": train}, summary, plan.excluded_items, excluded_records)
    evaluation = [e for e in built if e.item_id in plan.eval_items]
    summary.update(
        {
            "train_records": len(train),
            "eval_records": len(evaluation),
            "eval_items": len(plan.eval_items),
            "registered_items_put_in_eval": len(plan.eval_items & registered_items),
        }
    )
    return Split({"train": train, "eval": evaluation}, summary)


def _eval_set(
    built: list[Entry],
    options: ExportOptions,
    summary: dict[str, Any],
    cluster_inputs: dict[str, tuple[str, str]],
) -> Split:
    """Every item (--all-items), or a sample of whole clusters (--eval-fraction). The registry
    does not steer the sample: the same seed over the same judgments gives the same eval set."""
    if options.all_items:
        summary.update({"all_items": True, "eval_records": len(built)})
        return Split({"eval": built}, summary)
    plan = plan_split(
        cluster_inputs,
        Counter(entry.item_id for entry in built),
        eval_fraction=options.eval_fraction,
        seed=options.seed,
        near_duplicates=options.near_duplicates,
    )
    sample = [e for e in built if e.item_id in plan.eval_items]
    summary.update(
        {
            "clusters": plan.clusters,
            "eval_records": len(sample),
            "eval_items": len(plan.eval_items),
            "records_not_in_the_sample": len(built) - len(sample),
        }
    )
    return Split({"eval": sample}, summary)
