"""The only place exports touch the disk: every file is written to a temp file and renamed.

Files are created with mode 0666 and folders with 0777, less the umask, as any program's files
are (a umask of 022 gives 0644 and 0755): an export is shared the way its owner shares files.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from labeling.errors import ExportError

if TYPE_CHECKING:
    import pyarrow as pa


def prepare_dir(out_dir: Path) -> list[Path]:
    """Make the output folder (and missing parents); return the folders made, deepest first."""
    missing = [folder for folder in (out_dir, *out_dir.parents) if not folder.exists()]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the output folder {out_dir}: {exc.strerror}") from exc
    if not os.access(out_dir, os.W_OK):
        raise ExportError(f"the output folder {out_dir} is not writable")
    return missing


@contextmanager
def new_files(out_dir: Path) -> Iterator[None]:
    """The output folder, made if missing, for a block that writes an export's files: if the block
    raises, whatever it added (files, folders, the output folder itself) is removed again."""
    existed = set(os.listdir(out_dir)) if out_dir.is_dir() else set()
    created = prepare_dir(out_dir)
    try:
        yield
    except BaseException:
        for name in set(os.listdir(out_dir)) - existed:
            path = out_dir / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        for folder in created:
            with suppress(OSError):
                folder.rmdir()
        raise


def _new_temp(folder: Path, name: str) -> tuple[BinaryIO, Path]:
    """A new temp file in `folder` for `name`, open for writing. Created with os.open and mode
    0666 so that the umask applies (tempfile.mkstemp makes 0600 files, and a rename keeps the
    mode: every export would be private to its writer)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        path = folder / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(path, flags, 0o666)
        except FileExistsError:  # a name taken already: draw another
            continue
        return open(fd, "wb"), path  # noqa: SIM115 (the callers close it, then rename)


@contextmanager
def line_files(out_dir: Path, names: dict[str, str]) -> Iterator[dict[str, BinaryIO]]:
    """Temp files to stream lines into, one per split, renamed to `names` when the block ends.

    Records are checked as they are written (an export's lines never all sit in memory): if the
    block raises, the temp files and the folders made for them are removed, so a refused export
    leaves nothing behind.
    """
    created = prepare_dir(out_dir)
    handles: dict[str, BinaryIO] = {}
    temporary: dict[str, Path] = {}
    try:
        for split, name in names.items():
            handles[split], temporary[split] = _new_temp(out_dir, name)
        yield handles
        for split, handle in handles.items():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.replace(temporary[split], out_dir / names[split])
    except BaseException as exc:
        for handle in handles.values():
            handle.close()
        for path in temporary.values():
            path.unlink(missing_ok=True)
        for folder in created:
            with suppress(OSError):
                folder.rmdir()
        if isinstance(exc, OSError):
            raise ExportError(f"could not write to {out_dir}: {exc.strerror or exc}") from exc
        raise


@contextmanager
def _atomic(path: Path) -> Iterator[BinaryIO]:
    """A handle to write `path` through: a temp file beside it, renamed into place when the block
    ends, removed if it raises."""
    temporary: Path | None = None
    try:
        handle, temporary = _new_temp(path.parent, path.name)
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise ExportError(f"could not write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise


def _atomic_write(path: Path, chunks: Iterable[bytes]) -> None:
    with _atomic(path) as handle:
        handle.writelines(chunks)


def jsonl_line(record: dict[str, Any]) -> bytes:
    r"""One compact JSON object and a newline, UTF-8, non-ASCII kept as is (what json_text writes).

    >>> jsonl_line({"role": "user", "content": "ça"})
    b'{"role":"user","content":"\xc3\xa7a"}\n'
    """
    return orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE)


def write_text_lines(handle: BinaryIO, lines: list[str] | pa.Array, keep: list[bool] | None = None) -> None:
    """Lines (each ending with a newline) as UTF-8, those marked in `keep` only (all without it):
    an Arrow string array's bytes are written as they are, without a Python string per line.

    >>> import io, pyarrow as pa
    >>> handle = io.BytesIO()
    >>> write_text_lines(handle, pa.array(['{"a":1}\\n', '{"a":2}\\n']), [False, True])
    >>> handle.getvalue()
    b'{"a":2}\\n'
    """
    if isinstance(lines, list):
        kept = lines if keep is None else [line for line, wanted in zip(lines, keep, strict=True) if wanted]
        handle.write("".join(kept).encode("utf-8"))
        return
    import pyarrow as pa

    if keep is not None:
        lines = lines.filter(pa.array(keep, type=pa.bool_()))
    if len(lines) == 0:
        return
    if not pa.types.is_large_string(lines.type):
        lines = lines.cast(pa.large_string())
    _, offsets, data = lines.buffers()
    bounds = memoryview(offsets).cast("q")
    handle.write(memoryview(data)[bounds[lines.offset] : bounds[lines.offset + len(lines)]])


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """One compact JSON object per line, UTF-8, non-ASCII kept as is."""
    write_lines(path, map(jsonl_line, records))


def write_lines(path: Path, lines: Iterable[bytes]) -> None:
    """Lines already serialised (jsonl_line), written as they are."""
    _atomic_write(path, lines)


def write_json(path: Path, value: dict[str, Any]) -> None:
    _atomic_write(path, [(json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8")])


_CARD = """---
configs:
- config_name: default
  data_files:
{data_files}
---

# {kind} export for {target_name}

Written by prefdesk {version} on {created_at} from the judgments in `{store}`.

- records: {records} (from {pairs_judged} judged pairs)
- skipped pairs: {skipped}
- selection: {selection}

`manifest.json` beside this file has every count, the selection rules and a hash of the
judgments read. Load with `datasets.load_dataset("<this folder>")`.
"""

_TABLE_CARD = """---
configs:
- config_name: default
  data_files:
{data_files}
---

# The judgments in `{store}`

Written by prefdesk {version} on {created_at}: {records} judgment(s) in force, one row each
(undone judgments are left out; a judgment made again appears in its latest form only).

Columns: {columns}.

`manifest.json` beside this file has the filters and a hash of the judgments read. Load with
`{load}` or `datasets.load_dataset("<this folder>")`.
"""

_TARGET_NAMES = {"trl": "Hugging Face TRL", "openai": "the OpenAI fine-tuning API"}


def write_dataset_card(out_dir: Path, manifest: dict[str, Any]) -> None:
    """README.md with Hugging Face dataset-card front matter, so load_dataset(out_dir) finds the
    splits by name."""
    data_files = "\n".join(
        f"  - split: {split}\n    path: {name}"
        for split, name in manifest["files"].items()
        if not name.endswith(".yaml")  # a promptfoo YAML test list is not a dataset file
    )
    if manifest["kind"] == "judgments":
        name = next(iter(manifest["files"].values()))
        table_card = _TABLE_CARD.format(
            data_files=data_files,
            store=manifest["store"],
            version=manifest["prefdesk_version"],
            created_at=manifest["created_at"],
            records=manifest["records"],
            columns=", ".join(f"`{column}`" for column in manifest["columns"]),
            load={
                "csv": f'pandas.read_csv("{name}")',
                "parquet": f'pandas.read_parquet("{name}")',
                "jsonl": f'pandas.read_json("{name}", lines=True)',
            }[manifest["target"]],
        )
        _atomic_write(out_dir / "README.md", [table_card.encode("utf-8")])
        return
    skipped = ", ".join(f"{reason} {count}" for reason, count in manifest["skipped"].items())
    selection = ", ".join(f"{k}={v}" for k, v in manifest["selection"].items() if k != "votes")
    card = _CARD.format(
        data_files=data_files,
        kind=manifest["kind"],
        target_name=_TARGET_NAMES.get(manifest["target"], manifest["target"]),
        version=manifest["prefdesk_version"],
        created_at=manifest["created_at"],
        store=manifest["store"],
        records=manifest["records"],
        pairs_judged=manifest["pairs_judged"],
        skipped=skipped,
        selection=selection,
    )
    if not data_files:  # nothing load_dataset can read: no front matter
        card = card[card.index("# ") :]
    _atomic_write(out_dir / "README.md", [card.encode("utf-8")])


def read_jsonl_head(path: Path, count: int) -> list[dict[str, Any]]:
    """The first `count` records of a JSONL file this module wrote (for previews)."""
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if len(records) >= count:
                break
            records.append(json.loads(line))
    return records


def write_yaml_list(path: Path, records: list[dict[str, Any]]) -> None:
    """Records as one YAML list (promptfoo's `tests: file://...yaml`)."""
    import yaml

    text = yaml.safe_dump(records, allow_unicode=True, sort_keys=False, width=100)
    _atomic_write(path, [text.encode("utf-8")])


def write_parquet(path: Path, records: list[dict[str, Any]]) -> None:
    """Records as one Parquet file (TRL records only: uniform message structs, no ragged keys)."""
    import pyarrow as pa

    write_table_parquet(path, pa.Table.from_pylist(records))


def write_table_parquet(path: Path, table: pa.Table) -> None:
    import pyarrow.parquet as pq

    with _atomic(path) as handle:
        pq.write_table(table, handle)


def write_table_csv(path: Path, table: pa.Table) -> None:
    """A table as CSV with a header row; text with commas, quotes or newlines is quoted."""
    import pyarrow.csv as pacsv

    with _atomic(path) as handle:
        pacsv.write_csv(table, handle)


def write_table_jsonl(path: Path, table: pa.Table) -> None:
    """A table as JSONL, one row per line, a batch of rows at a time (never all as dicts)."""
    with _atomic(path) as handle:
        for batch in table.to_batches(max_chunksize=65_536):
            handle.writelines(map(jsonl_line, batch.to_pylist()))


def save_to_disk(out_dir: Path, files: dict[str, str]) -> Path:
    """The export as a `datasets.DatasetDict` saved with save_to_disk (needs the trl extra)."""
    try:
        import datasets
    except ImportError:
        raise ExportError(
            "--save-to-disk needs the datasets library: pip install 'prefdesk[datasets]'"
        ) from None
    builder = "parquet" if next(iter(files.values())).endswith(".parquet") else "json"
    loaded = datasets.load_dataset(
        builder, data_files={split: str(out_dir / name) for split, name in files.items()}
    )
    target = out_dir / "hf_dataset"
    loaded.save_to_disk(str(target))
    return target
