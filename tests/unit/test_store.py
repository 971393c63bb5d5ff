"""The store: migrations at open, the exact schema, refusals that say what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.db import Tx, latest_schema_version, migrations, open_store
from store.errors import StoreError, StoreLockedError, StoreTooNewError
from tests.conftest import store_held_by_another_process

EXPECTED_COLUMNS = {
    "items": [
        ("id", "VARCHAR"),
        ("dataset", "VARCHAR"),
        ("source_id", "VARCHAR"),
        ("prompt", "JSON"),
        ("prompt_hash", "VARCHAR"),
        ("group_key", "VARCHAR"),
        ("metadata", "JSON"),
        ("import_id", "VARCHAR"),
        ("seq", "BIGINT"),
        ("created_at", "TIMESTAMP"),
    ],
    "responses": [
        ("id", "VARCHAR"),
        ("item_id", "VARCHAR"),
        ("model", "VARCHAR"),
        ("content", "VARCHAR"),
        ("metadata", "JSON"),
        ("import_id", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
    ],
    "pairs": [
        ("id", "VARCHAR"),
        ("item_id", "VARCHAR"),
        ("response_a_id", "VARCHAR"),
        ("response_b_id", "VARCHAR"),
        ("metadata", "JSON"),
        ("import_id", "VARCHAR"),
        ("seq", "BIGINT"),
        ("created_at", "TIMESTAMP"),
    ],
    "judgments": [
        ("id", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("annotator", "VARCHAR"),
        ("item_id", "VARCHAR"),
        ("pair_id", "VARCHAR"),
        ("left_id", "VARCHAR"),
        ("right_id", "VARCHAR"),
        ("verdict", "VARCHAR"),
        ("strength", "INTEGER"),
        ("rationale", "VARCHAR"),
        ("tags", "JSON"),
        ("supersedes", "VARCHAR"),
        ("shown_at", "TIMESTAMP"),
        ("submitted_at", "TIMESTAMP"),
        ("seq", "BIGINT"),
    ],
    "users": [
        ("name", "VARCHAR"),
        ("role", "VARCHAR"),
        ("password_hash", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
        ("disabled_at", "TIMESTAMP"),
        ("sessions_reset_at", "TIMESTAMP"),
    ],
    "imports": [
        ("id", "VARCHAR"),
        ("dataset", "VARCHAR"),
        ("format", "VARCHAR"),
        ("sources", "JSON"),
        ("items_added", "INTEGER"),
        ("responses_added", "INTEGER"),
        ("pairs_added", "INTEGER"),
        ("imported_at", "TIMESTAMP"),
    ],
    "exports": [
        ("id", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("target", "VARCHAR"),
        ("out_dir", "VARCHAR"),
        ("manifest", "JSON"),
        ("created_at", "TIMESTAMP"),
        ("items_recorded", "BOOLEAN"),
    ],
    "eval_registry": [("item_id", "VARCHAR"), ("export_id", "VARCHAR"), ("registered_at", "TIMESTAMP")],
    "eval_registry_removals": [("export_id", "VARCHAR"), ("removed_at", "TIMESTAMP")],
    "export_training_items": [("export_id", "VARCHAR"), ("item_id", "VARCHAR")],
    "prefdesk_schema": [("version", "INTEGER"), ("name", "VARCHAR"), ("applied_at", "TIMESTAMP")],
    "api_tokens": [
        ("id", "VARCHAR"),
        ("user_name", "VARCHAR"),
        ("secret_hash", "VARCHAR"),
        ("label", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
        ("revoked_at", "TIMESTAMP"),
        ("expires_at", "TIMESTAMP"),
        ("created_by", "VARCHAR"),
    ],
    "audit_log": [
        ("seq", "BIGINT"),
        ("changed_at", "TIMESTAMP"),
        ("actor", "VARCHAR"),
        ("action", "VARCHAR"),
        ("target", "VARCHAR"),
        ("detail", "JSON"),
    ],
    "dataset_wording": [
        ("dataset", "VARCHAR"),
        ("question", "VARCHAR"),
        ("user_label", "VARCHAR"),
        ("assistant_label", "VARCHAR"),
        ("system_label", "VARCHAR"),
        ("set_by", "VARCHAR"),
        ("seq", "BIGINT"),
        ("set_at", "TIMESTAMP"),
    ],
    "desk_secrets": [("name", "VARCHAR"), ("secret", "BLOB"), ("created_at", "TIMESTAMP")],
    "superseded": [("event_id", "VARCHAR"), ("by_event", "VARCHAR")],
}


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in migrations()]
    assert versions == sorted(set(versions))
    assert versions == list(range(1, latest_schema_version() + 1))


def test_the_final_schema_is_exactly_as_expected(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.duckdb")
    with store.cursor() as cur:
        tables = {t for (t,) in cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        views = {
            v for (v,) in cur.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        }
        columns = {
            table: cur.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
                [table],
            ).fetchall()
            for table in tables
        }
    store.close()
    assert tables == set(EXPECTED_COLUMNS)
    assert views == {"current_pair_judgments", "in_force_changes"}
    assert columns == EXPECTED_COLUMNS


def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    for _ in range(2):
        store = open_store(tmp_path / "s.duckdb")
        assert store.schema_version() == latest_schema_version()
        with store.cursor() as cur:
            assert cur.execute("SELECT count(*) FROM prefdesk_schema").fetchone() == (len(migrations()),)
        store.close()


def test_a_store_from_a_newer_prefdesk_refuses_to_open(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.duckdb")
    with store.cursor() as cur:
        cur.execute("INSERT INTO prefdesk_schema VALUES (999, 'future', now()::TIMESTAMP)")
    store.close()
    with pytest.raises(StoreTooNewError, match="schema version 999.*written by a newer prefdesk"):
        open_store(tmp_path / "s.duckdb")


def test_a_second_process_gets_the_holders_pid(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    open_store(path).close()
    with store_held_by_another_process(path) as holder:
        with pytest.raises(StoreLockedError) as locked:
            open_store(path)
        assert locked.value.pid == holder.pid
        assert f"in use by process {holder.pid}" in str(locked.value)
        assert "open_store" in str(locked.value)  # the holder's command line, to recognise it
    open_store(path).close()  # free again once the holder is gone


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="folder .*nowhere does not exist"):
        open_store(tmp_path / "nowhere" / "s.duckdb")


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.duckdb")

    def half_done(tx: Tx) -> None:
        tx.cur.execute(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES ('ana', 'annotator', 'x', now()::TIMESTAMP)"
        )
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        store.write(half_done)
    with store.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM users").fetchone() == (0,)
    store.close()
