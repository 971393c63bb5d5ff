"""Who may do what, through both APIs: the REST API and Gradio's own endpoints. Injection-shaped
input is data. Secrets never reach logs or the store in clear."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AuthenticationError

from labeling import tokens, users
from labeling.clock import utc_now
from labeling.ingest import import_files
from store.db import open_store
from tests.app.conftest import RestDesk, judgment_body
from tests.conftest import PASSWORD, free_port, support_records, write_jsonl

pytestmark = pytest.mark.app

ADMIN_CALLS = [
    ("GET", "/stats", None),
    (
        "POST",
        "/items",
        {"dataset": "x", "records": [{"prompt": "p", "responses": [{"model": "a", "content": "b"}]}]},
    ),
    ("POST", "/exports", {"kind": "dpo", "target": "trl"}),
    ("GET", "/exports/dpo-trl-1/dpo_trl.jsonl", None),
    ("GET", "/tokens", None),
    ("POST", "/tokens", {"user": "ana", "label": "mine now"}),
    ("DELETE", "/tokens/00000000", None),
]
ANYONE_CALLS = [
    ("GET", "/me", None),
    ("GET", "/pairs/next", None),
    ("GET", "/judgments", None),
    ("POST", "/undo", {"client_id": "undo-0000001"}),
    (
        "POST",
        "/judgments",
        {
            "client_id": "c-00000001",
            "showing_id": "s",
            "pair_id": "p",
            "left_id": "a",
            "right_id": "b",
            "verdict": "left",
        },
    ),
]
INJECTIONS = [
    "' OR '1'='1",
    "x'; DROP TABLE judgments; --",
    '") UNION SELECT password_hash FROM users --',
    "%' OR 1=1 --",
    "\\'; DELETE FROM api_tokens; --",
]


def call(client: httpx.Client, method: str, path: str, body: object) -> httpx.Response:
    return client.request(method, path, json=body) if body is not None else client.request(method, path)


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS + ANYONE_CALLS)
def test_calls_without_a_valid_token_are_refused(
    refusing_desk: RestDesk, method: str, path: str, body: object
) -> None:
    forged = "pd_" + refusing_desk.tokens["root"][3:11] + "_" + "A" * 43  # a real id, a wrong secret
    for token in (None, "not-a-token", forged):
        with refusing_desk.client(token=token) as anonymous:
            response = call(anonymous, method, path, body)
        assert response.status_code == 401, (token, response.text)
        assert response.json()["error"] and response.headers["www-authenticate"] == "Bearer"
    assert_nothing_changed(refusing_desk)


def assert_nothing_changed(desk: RestDesk) -> None:
    with desk.store.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM items").fetchone() == (6,)
        assert cur.execute("SELECT count(*) FROM judgments").fetchone() == (0,)
        assert cur.execute("SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL").fetchone() == (3,)
    assert not desk.exports_dir.exists()


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
def test_an_annotator_cannot_call_admin_endpoints(
    refusing_desk: RestDesk, method: str, path: str, body: object
) -> None:
    with refusing_desk.client("ana") as ana:
        response = call(ana, method, path, body)
    assert response.status_code == 403
    assert "needs an admin" in response.json()["error"]
    assert_nothing_changed(refusing_desk)


def test_an_annotator_reads_only_their_own_judgments(rest_desk: RestDesk) -> None:
    for name in ("ana", "bob"):
        with rest_desk.client(name) as person:
            shown = person.get("/pairs/next").json()["pair"]
            body = judgment_body(shown, "tie", rationale=f"secret of {name}")
            assert person.post("/judgments", json=body).status_code == 201
    with rest_desk.client("ana") as ana:
        assert {e["annotator"] for e in ana.get("/judgments").json()["events"]} == {"ana"}
        assert ana.get("/judgments", params={"annotator": "bob"}).status_code == 403
        assert ana.post("/undo", json={"client_id": uuid.uuid4().hex}).json()["annotator"] == "ana"
    with rest_desk.client("bob") as bob:
        assert bob.get("/me").json()["judged"] == 1  # ana's undo did not touch bob's judgment
    with rest_desk.client("root") as root:
        assert {e["annotator"] for e in root.get("/judgments").json()["events"]} == {"ana", "bob"}
        assert {
            e["annotator"] for e in root.get("/judgments", params={"annotator": "bob"}).json()["events"]
        } == {"bob"}


def test_a_revoked_token_stops_working_at_once(rest_desk: RestDesk) -> None:
    with rest_desk.client("root") as root:
        made = root.post("/tokens", json={"user": "bob", "label": "laptop"})
        assert made.status_code == 201
        fresh = made.json()
        listed = root.get("/tokens").json()
        assert fresh["id"] in {t["id"] for t in listed} and all("token" not in t for t in listed)
        with rest_desk.client(token=fresh["token"]) as bob:
            assert bob.get("/me").json()["user"] == "bob"
            assert root.delete(f"/tokens/{fresh['id']}").json()["revoked_at"] is not None
            assert bob.get("/me").status_code == 401
        assert root.delete("/tokens/ffffffff").status_code == 404
        assert root.delete(f"/tokens/{rest_desk.tokens['root'][3:11]}").status_code == 200
        assert root.get("/me").status_code == 401  # an admin can revoke even their own token


def test_injection_shaped_input_is_stored_and_matched_as_data(rest_desk: RestDesk) -> None:
    with rest_desk.client("root") as root:
        for text in INJECTIONS:
            assert root.get("/judgments", params={"annotator": text}).json()["events"] == []
            assert root.delete(f"/tokens/{text}").status_code == 404
            assert root.post("/tokens", json={"user": text}).status_code == 404
            refused = root.post("/exports", json={"kind": "dpo", "target": "trl", "datasets": [text]})
            assert refused.status_code == 422  # no such dataset: nothing to export
            assert f"--dataset {text!r} matches no dataset in the store" in refused.json()["error"]
            body = {"kind": "dpo", "target": "trl", "datasets": [text], "allow_empty": True}
            empty = root.post("/exports", json=body)
            assert empty.status_code == 201 and empty.json()["records"] == 0
            assert root.delete(f"/eval-sets/{text}").status_code == 404
            assert root.get(f"/exports/{text}/x.jsonl").status_code == 404
        records = [
            {
                "id": text,
                "prompt": text,
                "responses": [{"model": text, "content": text}, {"model": "m", "content": "ok"}],
            }
            for text in INJECTIONS
        ]
        assert root.post("/items", json={"dataset": "inj", "records": records}).status_code == 201
    with rest_desk.client("ana") as ana:
        for text in INJECTIONS:
            body = {
                "client_id": uuid.uuid4().hex,
                "showing_id": text[:64],
                "pair_id": text,
                "left_id": text,
                "right_id": text,
                "verdict": "left",
            }
            assert ana.post("/judgments", json=body).status_code == 409
    with rest_desk.store.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM items").fetchone() == (6 + len(INJECTIONS),)
        stored = {
            row[0] for row in cur.execute("SELECT source_id FROM items WHERE dataset = 'inj'").fetchall()
        }
        assert stored == set(INJECTIONS)
        assert cur.execute("SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL").fetchone() == (3,)
        assert cur.execute("SELECT count(*) FROM users").fetchone() == (3,)


def test_gradio_endpoints_need_a_login_and_act_only_for_the_signed_in_annotator(rest_desk: RestDesk) -> None:
    url = re.escape(rest_desk.url)
    with pytest.raises(AuthenticationError, match=rf"^Could not load {url} as credentials were not provided"):
        Client(rest_desk.url, verbose=False).predict(api_name="/next_pair")
    with pytest.raises(ValueError, match=rf"^Could not login to {url}\.$"):  # a token is not a password
        Client(rest_desk.url, auth=("ana", rest_desk.tokens["ana"]), verbose=False)
    ana = Client(rest_desk.url, auth=("ana", PASSWORD), verbose=False)
    endpoints = ana.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/next_pair", "/submit_pair", "/undo"}
    for endpoint in endpoints.values():  # nothing names an annotator: the login decides who judges
        assert not {"annotator", "user", "username"} & {p["parameter_name"] for p in endpoint["parameters"]}
    view = ana.predict(api_name="/next_pair")
    ana.predict(view[4], "left", "", api_name="/submit_pair")
    assert {row[1] for row in rest_desk.judgment_rows()} == {"ana"}
    call = rest_desk.url + "gradio_api/call/next_pair"
    bearer = {"Authorization": f"Bearer {rest_desk.tokens['root']}"}
    assert httpx.post(call, json={"data": []}, headers=bearer).status_code == 401  # a token is not a login
    with httpx.Client() as browser_like:  # the same call after a password login is accepted
        assert browser_like.post(
            rest_desk.url + "login", data={"username": "ana", "password": PASSWORD}
        ).is_success
        assert browser_like.post(call, json={"data": []}).status_code == 200


# `prefdesk serve` with every log on: uvicorn's access log and debug level (the desk serves with
# the access log off), and everything at DEBUG from the desk's own loggers and the libraries'.
LOUD_SERVE = """
import logging, sys
import uvicorn

class LoudConfig(uvicorn.Config):
    def __init__(self, *args, **kwargs):
        kwargs.update(access_log=True, log_level="debug")
        super().__init__(*args, **kwargs)

uvicorn.Config = LoudConfig
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
desk_log = logging.getLogger("prefdesk")  # given a handler first, serve leaves its level alone
desk_log.addHandler(logging.StreamHandler(sys.stderr))
desk_log.setLevel(logging.DEBUG)
desk_log.propagate = False
from apps.cli import main
sys.exit(main(["serve", "--db", sys.argv[1], "--port", sys.argv[2]]))
"""


def start_loud_desk(db: Path, port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", LOUD_SERVE, str(db), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefdesk serve exited early:\n{process.communicate()[0]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("prefdesk serve did not start listening in time")


def text_values_holding(db: Path, secret: str) -> list[str]:
    """Every table.column of the store with a value that holds `secret` in clear, whatever the
    column's type (read through DuckDB: its compression hides a secret from a scan of the bytes)."""
    store = open_store(db, read_only=True)
    try:
        with store.cursor() as cur:
            columns = cur.execute(
                "SELECT table_name, column_name FROM duckdb_columns() WHERE NOT internal ORDER BY ALL"
            ).fetchall()
            assert len(columns) > 50 and ("users", "password_hash") in columns
            return [
                f"{table}.{column}"
                for table, column in columns
                if cur.execute(
                    f'SELECT count(*) FROM "{table}" WHERE contains(CAST("{column}" AS VARCHAR), ?)', [secret]
                ).fetchone()
                != (0,)
            ]
    finally:
        store.close()


def test_passwords_and_tokens_never_reach_the_log_or_the_store_in_clear(tmp_path: Path) -> None:
    db = tmp_path / "desk.duckdb"
    store = open_store(db)
    import_files(store, [write_jsonl(tmp_path / "s.jsonl", support_records(3))], dataset="support")
    users.add_user(store, "ana", "annotator", PASSWORD, utc_now)
    token, _ = tokens.create_token(store, "ana", "ci", utc_now)
    store.close()
    port = free_port()
    process = start_loud_desk(db, port)
    try:
        url = f"http://127.0.0.1:{port}/"
        Client(url, auth=("ana", PASSWORD), verbose=False).predict(api_name="/next_pair")
        with pytest.raises(ValueError, match=rf"^Could not login to {re.escape(url)}\.$"):  # the desk's 400
            Client(url, auth=("ana", PASSWORD + "-wrong"), verbose=False)
        assert httpx.get(url + "api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert httpx.get(url + "api/v1/me", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
        with httpx.Client() as browser_like:  # a sign-in and a judgment through the REST API as well
            assert browser_like.post(url + "login", data={"username": "ana", "password": PASSWORD}).is_success
        shown = httpx.get(url + "api/v1/pairs/next", headers={"Authorization": f"Bearer {token}"}).json()[
            "pair"
        ]
        judged = httpx.post(
            url + "api/v1/judgments",
            json=judgment_body(shown, "left", rationale="clear"),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert judged.status_code == 201
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
    # The log was on: every request is in it, and the failed sign-in with who it was.
    assert "prefdesk is serving" in output
    assert '"GET /api/v1/me HTTP/1.1" 200' in output and '"GET /api/v1/me HTTP/1.1" 401' in output
    assert '"POST /login HTTP/1.1" 400' in output and '"POST /api/v1/judgments HTTP/1.1" 201' in output
    assert "sign-in failed for 'ana' from 127.0.0.1: wrong password" in output
    secret = token.split("_", 2)[2]
    for clear in (PASSWORD, PASSWORD + "-wrong", secret):
        assert clear not in output
        assert text_values_holding(db, clear) == []
    assert text_values_holding(db, "clear") == ["current_pair_judgments.rationale", "judgments.rationale"]
