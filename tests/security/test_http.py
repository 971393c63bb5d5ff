"""The HTTP edge of a served desk, attacked as a stranger, an annotator and another website would:
oversized bodies (declared and streamed), calls without a token or a session, another site's
Origin under a real hostname, framing, the API docs' assets, uploads, TLS and proxies, and a
`shown_at` out of range."""

from __future__ import annotations

import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from playwright.sync_api import Page

from apps.server import RunningServer, ServeOptions, serve
from apps.settings import ServeSettings, parse
from labeling import tokens, users
from labeling.clock import utc_now
from labeling.ingest import import_files
from store.db import open_store
from tests.app.conftest import RestDesk, judgment_body, refusing_desk, rest_desk, start_rest_desk
from tests.conftest import PASSWORD, free_port, start_desk_process, support_records, write_jsonl

__all__ = ["refusing_desk", "rest_desk"]  # the fixtures, from tests/app/conftest.py

KiB, MiB = 1024, 1024 * 1024
BIG = 200 * MiB  # the size of the attack that took the server's RSS up by 618 MB

NO_TOKEN = "send an API token: `Authorization: Bearer pd_...` (`prefdesk tokens create`)"
BAD_TOKEN = "this API token is not valid or has been revoked"
NO_SESSION = "sign in first: this request needs a signed-in session of the desk (open the desk and sign in)"


def too_large(
    method: str, path: str, limit: str, limit_bytes: int, advice: str = "Send a smaller body."
) -> str:
    return (
        f"the request body is larger than the {limit} ({limit_bytes} bytes) that {method} {path} accepts: "
        f"nothing was stored. {advice}"
    )


IMPORT_ADVICE = (
    "Send the records in smaller batches, or raise the limit with `prefdesk serve --max-import-mb`."
)


# --- a client that keeps sending until the server answers -------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # body bytes this client had sent when the answer came

    def error(self) -> str:
        return str(orjson.loads(self.body)["error"])


def push_body(
    port: int, method: str, path: str, headers: dict[str, str], total: int, *, chunked: bool
) -> Answer:
    """Send a `total`-byte body (declared with Content-Length, or chunked without one) and stop
    as soon as the server answers, as an attacker's client need not but a server must assume."""
    headers = {"Content-Type": "application/json", **headers}
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sock.setblocking(False)
        piece, sent, pending = b"x" * (64 * KiB), 0, memoryview(b"")
        try:
            while True:
                if not pending:
                    if sent >= total:
                        if chunked:
                            sock.setblocking(True)
                            sock.sendall(b"0\r\n\r\n")
                        break
                    data = piece[: total - sent]
                    sent += len(data)
                    pending = memoryview(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                readable, writable, _ = select.select([sock], [sock], [], 60)
                if readable:
                    break  # the server answered before the body ended
                assert writable, "the server neither read the body nor answered for 60 s"
                pending = pending[sock.send(pending) :]
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection: its answer is already here
        sock.setblocking(True)
        return _read_answer(sock, sent)
    finally:
        sock.close()


def _read_answer(sock: socket.socket, sent: int) -> Answer:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed without an answer ({data!r})"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines[1:])
    }
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Answer(int(lines[0].split()[1]), headers, body, sent)


def peak_rss(pid: int) -> int:
    """The process's resident-set high-water mark (VmHWM), in bytes: what it ever held at once."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


@dataclass
class Colleague:
    """Someone judging while the attack runs: GET /api/v1/me every 50 ms, timed."""

    url: str
    token: str
    statuses: list[int] = field(default_factory=list)
    slowest: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {self.token}"}, timeout=60) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                self.statuses.append(client.get(self.url + "api/v1/me").status_code)
                self.slowest = max(self.slowest, time.monotonic() - started)
                time.sleep(0.05)

    def wait_for(self, answers: int) -> None:
        deadline = time.monotonic() + 60
        while len(self.statuses) < answers:
            assert time.monotonic() < deadline, f"the colleague got {len(self.statuses)} answers in 60 s"
            time.sleep(0.02)


def session_cookie(url: str, name: str) -> str:
    """A signed-in browser session's Cookie header."""
    with httpx.Client() as browser:
        assert browser.post(url + "login", data={"username": name, "password": PASSWORD}).is_success
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in browser.cookies.jar)


def test_oversized_and_unauthenticated_bodies_are_refused_before_they_are_read(tmp_path: Path) -> None:
    db = tmp_path / "desk.duckdb"
    store = open_store(db)
    import_files(store, [write_jsonl(tmp_path / "s.jsonl", support_records(3))], dataset="support")
    for name, role in (("ana", "annotator"), ("bob", "annotator"), ("root", "admin")):
        users.add_user(store, name, role, PASSWORD, utc_now)
    ana, bob, root = (tokens.create_token(store, name, "t", utc_now)[0] for name in ("ana", "bob", "root"))
    store.close()
    port = free_port()
    process = start_desk_process(db, port)
    url = f"http://127.0.0.1:{port}/"
    colleague = Colleague(url, bob)
    watcher = threading.Thread(target=colleague.run)
    try:
        cookie = {"Cookie": session_cookie(url, "ana")}
        for _ in range(3):  # warm up every path the attacks take, then measure
            assert httpx.get(url + "api/v1/me", headers={"Authorization": f"Bearer {ana}"}).status_code == 200
            assert httpx.get(url, headers=cookie).status_code == 200
        baseline = peak_rss(process.pid)
        watcher.start()
        colleague.wait_for(1)
        before_attacks = len(colleague.statuses)
        bearer = {"Authorization": f"Bearer {ana}"}
        admin = {"Authorization": f"Bearer {root}"}
        attacks: list[tuple[str, str, dict[str, str], bool, int, str]] = [
            ("POST", "/api/v1/items", {}, False, 401, NO_TOKEN),
            ("POST", "/api/v1/items", {}, True, 401, NO_TOKEN),
            ("POST", "/api/v1/judgments", {"Authorization": "Bearer pd_0000_nope"}, True, 401, BAD_TOKEN),
            (
                "POST",
                "/api/v1/items",
                bearer,
                False,
                403,
                "'ana' is an annotator: this needs an admin's token",
            ),
            (
                "POST",
                "/api/v1/items",
                bearer,
                True,
                403,
                "'ana' is an annotator: this needs an admin's token",
            ),
            (
                "POST",
                "/api/v1/items",
                admin,
                False,
                413,
                too_large("POST", "/api/v1/items", "64 MiB", 64 * MiB, IMPORT_ADVICE),
            ),
            (
                "POST",
                "/api/v1/judgments",
                bearer,
                True,
                413,
                too_large("POST", "/api/v1/judgments", "256 KiB", 256 * KiB),
            ),
            (
                "POST",
                "/api/v1/undo",
                bearer,
                False,
                413,
                too_large("POST", "/api/v1/undo", "256 KiB", 256 * KiB),
            ),
            ("POST", "/gradio_api/queue/join", {}, False, 401, NO_SESSION),
            ("POST", "/gradio_api/queue/join", {}, True, 401, NO_SESSION),
            ("POST", "/gradio_api/run/predict", {}, True, 401, NO_SESSION),
            (
                "POST",
                "/gradio_api/queue/join",
                cookie,
                True,
                413,
                too_large("POST", "/gradio_api/queue/join", "256 KiB", 256 * KiB),
            ),
            (
                "POST",
                "/gradio_api/run/predict",
                cookie,
                False,
                413,
                too_large("POST", "/gradio_api/run/predict", "256 KiB", 256 * KiB),
            ),
            (
                "POST",
                "/login",
                {"Content-Type": "application/x-www-form-urlencoded"},
                True,
                413,
                too_large("POST", "/login", "64 KiB", 64 * KiB),
            ),
            (
                "POST",
                "/gradio_api/no-such-route",
                cookie,
                False,
                413,
                too_large("POST", "/gradio_api/no-such-route", "64 KiB", 64 * KiB),
            ),
        ]
        for method, path, headers, chunked, status, message in attacks:
            answer = push_body(port, method, path, headers, BIG, chunked=chunked)
            attack = f"{method} {path} {'chunked' if chunked else 'declared'} {sorted(headers)}"
            grown = peak_rss(process.pid) - baseline
            assert grown < 40 * MiB, f"{attack}: the server's peak RSS grew by {grown / MiB:.0f} MiB"
            # Answered long before the body ended: what was sent sits in the kernels' socket buffers.
            assert answer.sent < 32 * MiB, (attack, answer.sent)
            assert (answer.status, answer.error()) == (status, message), attack
            assert answer.headers["content-type"] == "application/json", attack
            assert answer.headers.get("connection") == "close", attack  # the rest is never read
        colleague.wait_for(before_attacks + 2)  # served again once the attacks had begun
    finally:
        colleague.stop.set()
        if watcher.is_alive():
            watcher.join(timeout=60)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    assert colleague.statuses and set(colleague.statuses) == {200}
    assert colleague.slowest < 5.0, f"a colleague waited {colleague.slowest:.1f} s"


@pytest.fixture
def small_import_desk(tmp_path: Path) -> Iterator[RestDesk]:
    desk, server = start_rest_desk(tmp_path, max_import_bytes=1 * MiB)
    try:
        yield desk
    finally:
        server.close()
        desk.store.close()


def _records(count: int, size: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"big-{n}",
            "prompt": f"question {n}",
            "responses": [{"model": "a", "content": "y" * size}, {"model": "b", "content": "no"}],
        }
        for n in range(count)
    ]


def test_the_import_limit_counts_streamed_bytes_and_is_set_by_a_flag(small_import_desk: RestDesk) -> None:
    port = int(small_import_desk.url.rstrip("/").rsplit(":", 1)[1])
    admin = {"Authorization": f"Bearer {small_import_desk.tokens['root']}"}
    answer = push_body(port, "POST", "/api/v1/items", admin, 3 * MiB, chunked=True)
    assert (answer.status, answer.error()) == (
        413,
        too_large("POST", "/api/v1/items", "1 MiB", MiB, IMPORT_ADVICE),
    )
    body = orjson.dumps({"dataset": "big", "records": _records(4, 200 * KiB)})
    assert 800 * KiB < len(body) < MiB
    with small_import_desk.client("root") as root:
        halves = iter([body[: len(body) // 2], body[len(body) // 2 :]])  # chunked: no Content-Length
        stored = root.post("/items", content=halves, headers={"Content-Type": "application/json"})
        assert stored.status_code == 201, stored.text  # chunked, under the limit: imported
        assert stored.json()["items_added"] == 4
    with small_import_desk.store.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM items WHERE dataset = 'big'").fetchone() == (4,)
    settings = parse(["serve", "--db", "d.duckdb", "--max-import-mb", "3"])
    assert isinstance(settings, ServeSettings) and settings.max_import_mb == 3
    assert parse(["serve", "--db", "d.duckdb"]).max_import_mb == 64  # type: ignore[union-attr]


# --- CORS: another website under a real hostname -----------------------------------------------

FOREIGN = {"Host": "desk.example.com", "Origin": "https://evil.example"}


def test_another_website_cannot_read_the_desk_served_under_a_hostname(refusing_desk: RestDesk) -> None:
    """Gradio reflects any Origin with credentials once the Host is not localhost; the desk's own
    CORS policy (no other origin by default) must apply instead."""
    with httpx.Client(base_url=refusing_desk.url) as browser:
        cookie = session_cookie(refusing_desk.url, "ana")
        for path in ("/config", "/gradio_api/info", "/gradio_api/token", "/api/v1/me"):
            answer = browser.get(path, headers={**FOREIGN, "Cookie": cookie})
            assert "access-control-allow-origin" not in answer.headers, path
            assert "access-control-allow-credentials" not in answer.headers, path
        preflight = browser.options(
            "/gradio_api/queue/join",
            headers={
                **FOREIGN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert "access-control-allow-origin" not in preflight.headers
        assert "access-control-allow-credentials" not in preflight.headers


def test_allowed_origins_and_the_public_origin_may_call_the_api_without_cookies(tmp_path: Path) -> None:
    desk, server = start_rest_desk(
        tmp_path, allowed_origins=("https://tools.example.com",), public_origin="https://desk.example.com"
    )
    try:
        with httpx.Client(base_url=desk.url) as browser:
            bearer = {"Authorization": f"Bearer {desk.tokens['ana']}", "Host": "desk.example.com"}
            for origin in ("https://tools.example.com", "https://desk.example.com"):
                answer = browser.get("/api/v1/me", headers={**bearer, "Origin": origin})
                assert answer.status_code == 200
                assert answer.headers["access-control-allow-origin"] == origin
                assert "access-control-allow-credentials" not in answer.headers  # tokens, never cookies
                preflight = browser.options(
                    "/api/v1/judgments",
                    headers={
                        "Host": "desk.example.com",
                        "Origin": origin,
                        "Access-Control-Request-Method": "POST",
                        "Access-Control-Request-Headers": "authorization,content-type",
                    },
                )
                assert preflight.status_code == 200
                assert preflight.headers["access-control-allow-origin"] == origin
                assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
            refused = browser.get("/api/v1/me", headers={**bearer, "Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in refused.headers
    finally:
        server.close()
        desk.store.close()


def test_origin_flags_are_checked() -> None:
    settings = parse(
        [
            "serve", "--db", "d.duckdb",
            "--allowed-origin", "https://tools.example.com/",
            "--allowed-origin", "http://LOCALHOST:8080",
            "--public-origin", "https://Desk.Example.com",
        ]
    )  # fmt: skip
    assert isinstance(settings, ServeSettings)
    assert settings.allowed_origins == ("https://tools.example.com", "http://localhost:8080")
    assert settings.public_origin == "https://desk.example.com"
    for bad in ("tools.example.com", "https://tools.example.com/path", "ftp://x.example", "*"):
        with pytest.raises(SystemExit) as refused:
            parse(["serve", "--db", "d.duckdb", "--allowed-origin", bad])
        assert refused.value.code == 2


# --- headers, API docs, uploads ----------------------------------------------------------------


def _assert_safe_headers(answer: httpx.Response, what: str) -> None:
    assert answer.headers["x-frame-options"] == "DENY", what
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], what
    assert answer.headers["x-content-type-options"] == "nosniff", what
    assert answer.headers["referrer-policy"] == "same-origin", what
    assert "strict-transport-security" not in answer.headers, what  # plain HTTP: HSTS means nothing


def test_every_response_forbids_framing_and_sniffing(refusing_desk: RestDesk) -> None:
    with httpx.Client(base_url=refusing_desk.url) as browser:
        cases = {
            "the sign-in page": browser.get("/"),
            "a REST answer": browser.get(
                "/api/v1/me", headers={"Authorization": f"Bearer {refusing_desk.tokens['ana']}"}
            ),
            "a REST refusal": browser.get("/api/v1/me"),
            "the API docs": browser.get("/api/docs"),
            "Gradio's info": browser.get("/gradio_api/info"),
            "a missing page": browser.get("/no/such/page"),
            "a body refused": browser.post("/login", content=b"x" * (65 * KiB)),
        }
        for what, answer in cases.items():
            _assert_safe_headers(answer, what)
        assert cases["a body refused"].status_code == 413


def test_the_api_docs_load_nothing_from_another_host(refusing_desk: RestDesk) -> None:
    with httpx.Client(base_url=refusing_desk.url) as browser:
        page = browser.get("/api/docs")
        assert page.status_code == 200
        assert re.findall(r"https?://|//[a-z]", page.text, flags=re.I) == []  # no absolute URL at all
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        assert sorted(assets) == [
            "/api/docs-assets/favicon-32x32.png",
            "/api/docs-assets/swagger-ui-bundle.js",
            "/api/docs-assets/swagger-ui.css",
        ]
        for asset in assets:
            answer = browser.get(asset)
            assert answer.status_code == 200 and len(answer.content) > 500, asset
        assert (
            browser.get("/api/docs-assets/swagger-ui-bundle.js")
            .headers["content-type"]
            .startswith(("text/javascript", "application/javascript"))
        )
        assert "'validatorUrl': null" in page.text or '"validatorUrl": null' in page.text


@pytest.mark.browser
def test_the_api_docs_render_in_chromium_from_the_desk_alone(refusing_desk: RestDesk, page: Page) -> None:
    hosts: list[str] = []
    page.on("request", lambda request: hosts.append(httpx.URL(request.url).netloc.decode()))
    page.goto(refusing_desk.url + "api/docs")
    page.get_by_text("/api/v1/pairs/next").wait_for(timeout=30_000)
    desk_host = httpx.URL(refusing_desk.url).netloc.decode()
    assert hosts and set(hosts) == {desk_host}


@pytest.mark.parametrize("path", ["/gradio_api/upload", "/gradio_api/process_recording"])
def test_uploads_are_refused_even_when_signed_in(refusing_desk: RestDesk, path: str) -> None:
    cookie = session_cookie(refusing_desk.url, "ana")
    with httpx.Client(base_url=refusing_desk.url) as browser:
        for headers in ({"Cookie": cookie}, {}):
            answer = browser.post(
                path, headers=headers, files={"files": ("note.html", b"<script>1</script>", "text/html")}
            )
            assert answer.status_code == 403, answer.text
            assert answer.json() == {
                "error": "this desk takes no file uploads: nothing on it asks for a file",
                "problems": [],
            }


# --- TLS and proxies ---------------------------------------------------------------------------


def _self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _desk_store(tmp_path: Path) -> tuple[Any, str]:
    store = open_store(tmp_path / "desk.duckdb")
    import_files(store, [write_jsonl(tmp_path / "s.jsonl", support_records(2))], dataset="support")
    users.add_user(store, "ana", "annotator", PASSWORD, utc_now)
    return store, tokens.create_token(store, "ana", "t", utc_now)[0]


def test_the_desk_serves_https_with_a_certificate_and_sends_hsts_only_then(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    store, token = _desk_store(tmp_path)
    server = serve(store, ServeOptions(port=free_port(), ssl_certfile=cert, ssl_keyfile=key), block=False)
    assert isinstance(server, RunningServer)
    try:
        assert server.local_url.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=server.local_url, verify=trusted) as browser:
            answer = browser.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200 and answer.json()["user"] == "ana"
            assert answer.headers["strict-transport-security"] == "max-age=31536000"
            assert browser.get("/").headers["strict-transport-security"] == "max-age=31536000"
        with pytest.raises(httpx.RemoteProtocolError):  # no plain HTTP on the TLS port
            httpx.get(server.local_url.replace("https://", "http://"))
    finally:
        server.close()
        store.close()


def test_tls_flags_go_together_and_name_real_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert, key = _self_signed(tmp_path)
    settings = parse(["serve", "--db", "d.duckdb", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)])
    assert isinstance(settings, ServeSettings) and (settings.ssl_certfile, settings.ssl_keyfile) == (
        cert,
        key,
    )
    for argv, message in (
        (["--ssl-certfile", str(cert)], "serve: --ssl-certfile and --ssl-keyfile go together: give both"),
        (["--ssl-keyfile", str(key)], "serve: --ssl-certfile and --ssl-keyfile go together: give both"),
        (
            ["--ssl-certfile", str(tmp_path / "nope.pem"), "--ssl-keyfile", str(key)],
            f"serve: --ssl-certfile {tmp_path / 'nope.pem'}: no such file",
        ),
    ):
        with pytest.raises(SystemExit) as refused:
            parse(["serve", "--db", "d.duckdb", *argv])
        assert refused.value.code == 2
        assert message in capsys.readouterr().err


@pytest.mark.parametrize("trusted", [True, False])
def test_forwarded_headers_count_only_from_the_named_proxies(tmp_path: Path, trusted: bool) -> None:
    store, token = _desk_store(tmp_path)
    proxies = ("127.0.0.1",) if trusted else ()
    server = serve(store, ServeOptions(port=free_port(), forwarded_allow_ips=proxies), block=False)
    assert isinstance(server, RunningServer)
    try:
        forwarded = {
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "203.0.113.7",
            "Authorization": f"Bearer {token}",
        }
        answer = httpx.get(server.local_url + "api/v1/me", headers=forwarded)
        assert answer.status_code == 200
        if trusted:  # TLS ended at the proxy in front: the browser saw HTTPS
            assert answer.headers["strict-transport-security"] == "max-age=31536000"
        else:  # anyone can send these headers: without --forwarded-allow-ips they mean nothing
            assert "strict-transport-security" not in answer.headers
    finally:
        server.close()
        store.close()
    settings = parse(["serve", "--db", "d.duckdb", "--forwarded-allow-ips", "10.0.0.5, 10.0.0.6"])
    assert isinstance(settings, ServeSettings) and settings.forwarded_allow_ips == ("10.0.0.5", "10.0.0.6")


def test_serving_beyond_loopback_without_tls_warns_that_passwords_travel_in_clear(tmp_path: Path) -> None:
    store, _ = _desk_store(tmp_path)
    store.close()
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apps.cli",
            "serve",
            "--db",
            str(tmp_path / "desk.duckdb"),
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert "prefdesk is serving" in out
    assert (
        "warning: serving on 0.0.0.0 over plain HTTP: passwords, session cookies and API tokens cross "
        "the network in clear. Give --ssl-certfile and --ssl-keyfile, or serve on 127.0.0.1 behind a "
        "TLS reverse proxy (docs/security.md)"
    ) in err


# --- shown_at ----------------------------------------------------------------------------------


def _shown_at_refusal(value: str) -> str:
    return (
        f"invalid request: body.shown_at: {value} is outside the times a pair can have been shown "
        "(from 2000-01-01 to a day after the server's clock): send the shown_at that /pairs/next "
        "gave, or leave it out"
    )


@pytest.mark.parametrize(
    "shown_at",
    ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "1999-12-31T23:59:59Z", "future"],
)
def test_a_shown_at_out_of_range_is_a_json_422(rest_desk: RestDesk, shown_at: str) -> None:
    if shown_at == "future":
        shown_at = (datetime.now(UTC) + timedelta(days=2)).isoformat().replace("+00:00", "Z")
    with rest_desk.client("ana") as ana:
        shown = ana.get("/pairs/next").json()["pair"]
        answer = ana.post("/judgments", json=judgment_body(shown, shown_at=shown_at))
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["error"] == _shown_at_refusal(shown_at)
        assert answer.json()["problems"][0]["field"] == "body.shown_at"
        in_range = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        assert ana.post("/judgments", json=judgment_body(shown, shown_at=in_range)).status_code == 201
    assert len(rest_desk.judgment_rows()) == 1  # only the one in range was stored
