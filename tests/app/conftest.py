"""A real server (REST API + Gradio desk) on a loopback port, with accounts and API tokens."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from apps.server import RunningServer, ServeOptions, serve
from labeling import tokens, users
from labeling.clock import utc_now
from labeling.ingest import import_files
from store.db import Store, open_store
from tests.conftest import PASSWORD, free_port, support_records, write_jsonl


@dataclass
class RestDesk:
    url: str
    store: Store
    exports_dir: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, name: str | None = None, token: str | None = None) -> httpx.Client:
        """An HTTP client as `name` (their API token), or with a given token, or with none."""
        headers = {}
        if name is not None:
            token = self.tokens[name]
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.url.rstrip("/") + "/api/v1", headers=headers, timeout=30)

    def judgment_rows(self) -> list[tuple[str, ...]]:
        with self.store.cursor() as cur:
            return cur.execute(
                "SELECT id, annotator, pair_id, verdict FROM judgments WHERE kind = 'pair' ORDER BY seq"
            ).fetchall()


def judgment_body(shown: dict[str, Any], verdict: str = "left", **extra: Any) -> dict[str, Any]:
    """A POST /judgments body for a pair as /pairs/next showed it, with a fresh client id."""
    return {
        "client_id": uuid.uuid4().hex,
        "showing_id": shown["showing_id"],
        "pair_id": shown["pair_id"],
        "left_id": shown["left"]["id"],
        "right_id": shown["right"]["id"],
        "verdict": verdict,
        **extra,
    }


def start_rest_desk(
    tmp_path: Path,
    *,
    items: int = 6,
    annotators: tuple[str, ...] = ("ana", "bob"),
    overlap: int | None = None,
    **serve_options: Any,
) -> tuple[RestDesk, RunningServer]:
    store = open_store(tmp_path / "desk.duckdb")
    import_files(store, [write_jsonl(tmp_path / "support.jsonl", support_records(items))], dataset="support")
    desk = RestDesk("", store, tmp_path / "exports")
    for name in annotators:
        users.add_user(store, name, "annotator", PASSWORD, utc_now)
        desk.tokens[name] = tokens.create_token(store, name, "tests", utc_now)[0]
    users.add_user(store, "root", "admin", PASSWORD, utc_now)
    desk.tokens["root"] = tokens.create_token(store, "root", "tests", utc_now)[0]
    server = serve(
        store,
        ServeOptions(port=free_port(), overlap=overlap, exports_dir=desk.exports_dir, **serve_options),
        block=False,
    )
    assert server is not None
    desk.url = server.local_url
    return desk, server


@contextmanager
def served_desk(tmp_path: Path, **serve_options: Any) -> Iterator[RestDesk]:
    """start_rest_desk's desk for the length of a block; stopped and its store closed after."""
    desk, server = start_rest_desk(tmp_path, **serve_options)
    try:
        yield desk
    finally:
        server.close()
        desk.store.close()


@pytest.fixture(scope="module")
def refusing_desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestDesk]:
    """The same desk, shared by a module's tests of requests that must be refused and change
    nothing (a server start per test cost ~2 s each): any change one made would show in the next."""
    with served_desk(tmp_path_factory.mktemp("refusing")) as desk:
        yield desk


@pytest.fixture
def rest_desk(tmp_path: Path) -> Iterator[RestDesk]:
    """Annotators ana and bob, admin root, each with a token; 6 items of 2 responses."""
    with served_desk(tmp_path) as desk:
        yield desk
