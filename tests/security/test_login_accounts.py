"""Sign-in, sessions and accounts, attacked as a hostile annotator and a hostile website would:
guessing passwords, telling real names from unknown ones by time, stalling colleagues with
sign-ins, signing a victim in or out from another site, reading the session id from another
site; and accounts over time (disable, enable, a new password, a new role, token expiry) taking
effect at the next request, each change in the audit log."""

from __future__ import annotations

import logging
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from apps.server import RunningServer, ServeOptions, serve
from labeling import tokens, users
from labeling.clock import utc_now
from labeling.ingest import import_files
from store.db import open_store
from tests.app.conftest import RestDesk, judgment_body, served_desk, start_rest_desk
from tests.conftest import PASSWORD, free_port, start_desk_process, support_records, write_jsonl

WRONG = "Incorrect credentials: the user name or the password is wrong."


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[RestDesk]:
    """A served desk: annotators ana and bob, admin root, each with an API token; 6 items."""
    with served_desk(tmp_path) as rest:
        yield rest


def sign_in(desk: RestDesk, name: str, password: str = PASSWORD, **headers: str) -> httpx.Response:
    return httpx.post(desk.url + "login", data={"username": name, "password": password}, headers=headers)


_BROWSERS: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_browsers() -> Iterator[None]:
    yield
    while _BROWSERS:
        _BROWSERS.pop().close()


def browser(desk: RestDesk, name: str, password: str = PASSWORD) -> httpx.Client:
    """A client signed in with a password, holding its session cookie as a browser would (closed
    at the end of the test)."""
    client = httpx.Client(base_url=desk.url, timeout=30)
    _BROWSERS.append(client)
    answer = client.post("login", data={"username": name, "password": password})
    assert answer.status_code == 200, answer.text
    return client


def signed_in(client: httpx.Client) -> bool:
    """Whether the client's session still opens the desk (Gradio's own check, and a real call)."""
    check = client.get("gradio_api/login_check").status_code
    call = client.post("gradio_api/call/next_pair", json={"data": []}).status_code
    assert (check, call) in ((200, 200), (401, 401)), (check, call)
    return check == 200


def session_cookies(answer: httpx.Response) -> list[str]:
    return [c for c in answer.headers.get_list("set-cookie") if c.startswith("access-token")]


def own_origin(desk: RestDesk) -> str:
    return desk.url.rstrip("/")


# --- guessing passwords -------------------------------------------------------------------


def test_a_hundred_wrong_passwords_then_the_right_one_is_refused_while_throttled(
    desk: RestDesk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="prefdesk.signin")
    answers = [sign_in(desk, "ana", f"guess-{n:03d}") for n in range(100)]
    # The first 5 are checked; from then on, each is refused without looking at the password.
    assert [a.status_code for a in answers] == [400] * 5 + [429] * 95
    assert {a.json()["error"] for a in answers[:5]} == {WRONG}
    right = sign_in(desk, "ana", PASSWORD)
    assert right.status_code == 429 and not session_cookies(right)
    wait = int(right.headers["retry-after"])
    assert 1 <= wait <= 30
    assert right.json()["error"] == (
        f"too many failed sign-ins for this user name or from this address: try again in {wait} s"
    )
    # Another name from the same address is not held back by ana's count.
    assert sign_in(desk, "bob").status_code == 200

    failures = [
        r.getMessage() for r in caplog.records if r.name == "prefdesk.signin" and r.levelname == "WARNING"
    ]
    expected = ["sign-in failed for 'ana' from 127.0.0.1: wrong password"] * 4 + [
        "sign-in failed for 'ana' from 127.0.0.1: wrong password; the next attempt waits 30 s"
    ]
    assert failures == expected
    assert not any("guess-" in r.getMessage() or PASSWORD in r.getMessage() for r in caplog.records)


def test_guesses_spread_over_many_names_are_throttled_by_address(desk: RestDesk) -> None:
    statuses = [sign_in(desk, f"nobody-{n}", "some-guess").status_code for n in range(30)]
    assert statuses == [400] * 30
    # The 30th failure from this address holds back every name from it, bob's right password too.
    refused = sign_in(desk, "bob")
    assert refused.status_code == 429 and not session_cookies(refused)


def test_the_wait_doubles_with_each_failure_and_is_forgotten_after_an_hour() -> None:
    from labeling.signin import SignInPolicy, SignInThrottle

    clock = [utc_now()]
    throttle = SignInThrottle(SignInPolicy(), now=lambda: clock[0])
    waits = [throttle.failed("ana", "10.0.0.7").total_seconds() for _ in range(4)]
    assert waits == [0, 0, 0, 0] and throttle.wait("ana", "10.0.0.7") == timedelta(0)
    waits = []
    for _ in range(7):
        waits.append(throttle.failed("ana", "10.0.0.7").total_seconds())
        assert throttle.wait("ana", "10.0.0.9") == timedelta(seconds=waits[-1])  # the name waits anywhere
        clock[0] += timedelta(seconds=waits[-1])
        assert throttle.wait("ana", "10.0.0.9") == timedelta(0)
    assert waits == [30, 60, 120, 240, 480, 900, 900]
    assert throttle.wait("bob", "10.0.0.7") == timedelta(0)  # 11 failures: under the address's 30

    throttle.succeeded("ana")  # a success forgets the name's failures...
    assert throttle.failed("ana", "10.0.0.9") == timedelta(0)
    for n in range(18):  # ...not the address's: 11 + 18 + 1 = 30 failures from 10.0.0.7
        throttle.failed(f"name-{n}", "10.0.0.7")
    assert throttle.failed("carl", "10.0.0.7") == timedelta(seconds=30)
    assert throttle.wait("dana", "10.0.0.7") == timedelta(seconds=30)

    clock[0] += timedelta(hours=1, seconds=1)
    assert throttle.wait("dana", "10.0.0.7") == timedelta(0)
    assert throttle.failed("ana", "10.0.0.7") == timedelta(0)  # counts start again


def test_an_unknown_name_takes_about_as_long_as_a_known_one(desk: RestDesk) -> None:
    known: list[float] = []
    unknown: list[float] = []
    with httpx.Client(base_url=desk.url) as client:  # one connection: only the server's work differs
        for round_ in range(3):  # 3 failures per real name and 9 unknown names: under every limit
            for name in ("ana", "bob", "root"):
                for times, who in ((known, name), (unknown, f"ghost-{name}-{round_}")):
                    started = time.perf_counter()
                    answer = client.post("login", data={"username": who, "password": "not-the-password"})
                    times.append(time.perf_counter() - started)
                    assert answer.status_code == 400
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2, (known, unknown)


@pytest.fixture
def desk_process(tmp_path: Path) -> Iterator[RestDesk]:
    """The desk of `desk` served by `prefdesk serve` in its own process: timings are the
    server's alone, not shared with this test's threads."""
    yield from served_store(tmp_path)


def served_store(tmp_path: Path) -> Iterator[RestDesk]:
    store = open_store(tmp_path / "desk.duckdb")
    import_files(store, [write_jsonl(tmp_path / "s.jsonl", support_records(6))], dataset="support")
    made = RestDesk("", store, tmp_path / "exports")
    for name, role in (("ana", "annotator"), ("bob", "annotator"), ("root", "admin")):
        users.add_user(store, name, role, PASSWORD, utc_now)
        made.tokens[name] = tokens.create_token(store, name, "tests", utc_now)[0]
    store.close()
    port = free_port()
    process = start_desk_process(tmp_path / "desk.duckdb", port)
    made.url = f"http://127.0.0.1:{port}/"
    try:
        yield made
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_colleagues_are_not_stalled_while_four_sign_in_loops_run(desk_process: RestDesk) -> None:
    desk = desk_process

    def latencies(count: int) -> list[float]:
        with desk.client("bob") as bob:
            bob.get("/me")
            times = []
            for _ in range(count):
                started = time.perf_counter()
                assert bob.get("/me").status_code == 200
                times.append(time.perf_counter() - started)
                time.sleep(0.01)
        return times

    def p95(times: list[float]) -> float:
        return statistics.quantiles(times, n=20)[-1]

    started = time.perf_counter()
    users.hash_password(PASSWORD)  # what one sign-in costs the server, measured here
    one_check = time.perf_counter() - started
    alone = p95(latencies(40))
    stop, signins = threading.Event(), [0]

    def loop() -> None:
        while not stop.is_set():
            assert sign_in(desk, "ana").status_code == 200
            signins[0] += 1

    loops = [threading.Thread(target=loop) for _ in range(4)]
    for thread in loops:
        thread.start()
    time.sleep(0.5)
    try:
        during = p95(latencies(60))
    finally:
        stop.set()
        for thread in loops:
            thread.join()
    print(
        f"check {one_check * 1000:.0f} ms; p95 alone {alone * 1000:.1f} ms, during {during * 1000:.1f} ms, {signins[0]} sign-ins"
    )
    assert signins[0] >= 8  # the loops did hash passwords all along
    # Checked on the event loop, every request waited behind the sign-ins' scrypt.
    assert during < max(one_check, 4 * alone), (one_check, alone, during)


# --- another website ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}],
    ids=["foreign-origin", "null-origin", "cross-site-fetch"],
)
def test_a_sign_in_posted_by_another_site_is_refused(desk: RestDesk, headers: dict[str, str]) -> None:
    refused = sign_in(desk, "ana", **headers)
    assert refused.status_code == 403 and not session_cookies(refused)
    came_from = headers.get("Origin", "a page of another site (Sec-Fetch-Site: cross-site)")
    assert refused.json()["error"] == (
        f"sign-in refused: the request came from {came_from}, not from this desk's own page. "
        "Open the desk's address and use its form"
    )
    # The desk's own page (its origin, as a browser sends it) signs in.
    assert sign_in(desk, "ana", Origin=own_origin(desk)).status_code == 200


def test_signing_out_takes_a_post_from_the_desk_and_a_link_signs_no_one_out(desk: RestDesk) -> None:
    first, second = browser(desk, "ana"), browser(desk, "ana")
    cookie = dict(first.cookies)
    # A link to `logout` (one in a prompt, say) goes back to the desk and signs no one out.
    followed = first.get("logout")
    assert followed.status_code == 303 and followed.headers["location"] == "./"
    assert signed_in(first) and signed_in(second)
    # Another site's page cannot post it either.
    assert first.post("logout", headers={"Origin": "https://evil.example"}).status_code == 403
    assert signed_in(first)
    # The desk's own sign-out button ends this browser's session only.
    out = first.post("logout", headers={"Origin": own_origin(desk)})
    assert out.status_code == 303
    with httpx.Client(base_url=desk.url, cookies=cookie) as replay:  # the old cookie, sent again
        assert not signed_in(replay)
    assert not signed_in(first) and signed_in(second)


def cookie_attributes(desk: RestDesk, **headers: str) -> set[str]:
    (cookie,) = session_cookies(sign_in(desk, "ana", **headers))
    return {part.strip().lower() for part in cookie.split(";")[1:]}


def test_the_session_cookie_is_lax_httponly_and_secure_behind_https(desk: RestDesk, tmp_path: Path) -> None:
    assert cookie_attributes(desk) == {"httponly", "path=/", "samesite=lax"}
    # A forwarded header from a client that is not a named proxy changes nothing.
    assert cookie_attributes(desk, **{"X-Forwarded-Proto": "https"}) == {"httponly", "path=/", "samesite=lax"}
    # Behind a TLS proxy the desk was told to believe, the cookie is Secure.
    (tmp_path / "proxied").mkdir()
    proxied, server = start_rest_desk(tmp_path / "proxied", forwarded_allow_ips=("127.0.0.1",))
    try:
        secure = cookie_attributes(proxied, **{"X-Forwarded-Proto": "https"})
        assert secure == {"httponly", "path=/", "samesite=lax", "secure"}
    finally:
        server.close()
        proxied.store.close()


def test_another_site_cannot_read_the_session_id(desk: RestDesk) -> None:
    client = browser(desk, "ana")
    (session_id,) = client.cookies.values()
    for headers in ({"Origin": "https://evil.example"}, {}):
        answer = client.get("gradio_api/token", headers=headers)
        assert answer.status_code == 404 and session_id not in answer.text
    assert signed_in(client)


# --- accounts over time -------------------------------------------------------------------


def admin(desk: RestDesk) -> httpx.Client:
    return desk.client("root")


def test_disabling_a_user_ends_their_session_and_tokens_at_once_and_keeps_their_judgments(
    desk: RestDesk,
) -> None:
    ana = browser(desk, "ana")
    view = ana.post("gradio_api/call/next_pair", json={"data": []})
    assert view.status_code == 200
    with desk.client("ana") as script:
        shown = script.get("/pairs/next").json()["pair"]
        assert script.post("/judgments", json=judgment_body(shown)).status_code == 201
        with admin(desk) as root:
            disabled = root.post("/users/ana/disable")
            assert disabled.status_code == 200 and disabled.json()["disabled_at"] is not None
            # The very next request of her session and of her token is refused.
            assert not signed_in(ana)
            refused = script.get("/me")
            assert refused.status_code == 401
            assert refused.json()["error"] == (
                "the account 'ana' is disabled: its tokens work again only if an admin enables it"
            )
            assert sign_in(desk, "ana").status_code == 400
            # Her judgment stays.
            assert [r[1] for r in desk.judgment_rows()] == ["ana"]
            assert len(root.get("/judgments", params={"annotator": "ana"}).json()["events"]) == 1
            # The only admin cannot lock everyone out.
            last = root.post("/users/root/disable")
            assert last.status_code == 409
            assert last.json()["error"] == (
                "'root' is the only enabled admin: disabling it would leave nobody to manage accounts. "
                "Add or enable another admin first"
            )
            assert root.post("/users/nobody/disable").status_code == 404

            enabled = root.post("/users/ana/enable")
            assert enabled.status_code == 200 and enabled.json()["disabled_at"] is None
        assert script.get("/me").status_code == 200  # her token works again...
    assert not signed_in(ana)  # ...her old session does not: she signs in again
    assert signed_in(browser(desk, "ana"))


def test_a_new_password_ends_the_users_sessions_but_not_their_tokens(desk: RestDesk) -> None:
    ana = browser(desk, "ana")
    with admin(desk) as root:
        short = root.put("/users/ana/password", json={"password": "short"})
        assert (
            short.status_code == 422
            and short.json()["error"] == "the password must have at least 8 characters"
        )
        assert signed_in(ana)
        assert root.put("/users/ana/password", json={"password": "a-new-password-2"}).status_code == 200
    assert not signed_in(ana)
    assert sign_in(desk, "ana", PASSWORD).status_code == 400
    assert signed_in(browser(desk, "ana", "a-new-password-2"))
    with desk.client("ana") as script:
        assert script.get("/me").status_code == 200


def test_a_new_role_applies_at_the_next_request(desk: RestDesk) -> None:
    with desk.client("ana") as ana, admin(desk) as root:
        assert ana.get("/stats").status_code == 403
        assert ana.get("/me").json()["role"] == "annotator"  # her token is checked and remembered
        promoted = root.put("/users/ana/role", json={"role": "admin"})
        assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
        assert ana.get("/stats").status_code == 200
        assert ana.put("/users/root/role", json={"role": "annotator"}).status_code == 200
        assert root.get("/stats").status_code == 403
        last = ana.put("/users/ana/role", json={"role": "annotator"})
        assert last.status_code == 409 and "'ana' is the only enabled admin" in last.json()["error"]


def test_tokens_expire_and_say_who_made_them(desk: RestDesk) -> None:
    with admin(desk) as root:
        made = root.post("/tokens", json={"user": "bob", "label": "ci", "expires_in": "30d"})
        assert made.status_code == 201
        token = made.json()
        assert token["created_by"] == "root"
        created, expires = (datetime.fromisoformat(token[k]) for k in ("created_at", "expires_at"))
        assert expires - created == timedelta(days=30)
        with desk.client(token=token["token"]) as bob:
            assert bob.get("/me").status_code == 200
        for bad in ("0d", "30 days", "1y", "99999w"):
            assert root.post("/tokens", json={"user": "bob", "expires_in": bad}).status_code == 422
        # A token made 31 days ago to work for 30 stopped working yesterday.
        month_ago = utc_now() - timedelta(days=31)
        old, info = tokens.create_token(
            desk.store, "bob", "old", lambda: month_ago, expires_in=timedelta(days=30), by="root"
        )
        listed = {t["id"]: t for t in root.get("/tokens").json()}
        assert listed[info.id]["expires_at"] is not None
        assert listed[desk.tokens["ana"][3:11]]["created_by"] is None  # made before anyone recorded it
    with desk.client(token=old) as bob:
        refused = bob.get("/me")
    assert refused.status_code == 401
    assert refused.json()["error"] == (
        f"this API token expired at {info.expires_at:%Y-%m-%d %H:%M} UTC: ask an admin for a new one "
        "(`prefdesk tokens create`)"
    )


def test_the_audit_log_says_who_changed_what_and_holds_no_secret(desk: RestDesk) -> None:
    with admin(desk) as root:
        before = root.get("/audit").json()["next_after"]
        made = root.post("/tokens", json={"user": "bob", "label": "nightly", "expires_in": "7d"}).json()
        root.post("/users/ana/disable")
        root.post("/users/ana/disable")  # already disabled: nothing to record
        root.post("/users/ana/enable")
        root.put("/users/bob/role", json={"role": "admin"})
        root.put("/users/bob/password", json={"password": "bobs-new-password"})
        root.delete(f"/tokens/{made['id']}")
        log = root.get("/audit", params={"after": before})
        assert log.status_code == 200
        events = log.json()["events"]
        assert [(e["actor"], e["action"], e["target"]) for e in events] == [
            ("root", "token.create", made["id"]),
            ("root", "user.disable", "ana"),
            ("root", "user.enable", "ana"),
            ("root", "user.role", "bob"),
            ("root", "user.password", "bob"),
            ("root", "token.revoke", made["id"]),
        ]
        assert events[0]["detail"] == {
            "user": "bob",
            "label": "nightly",
            "expires_at": made["expires_at"][:-1],
        }
        assert events[3]["detail"] == {"from": "annotator", "to": "admin"}
        assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
        assert log.json()["next_after"] == events[-1]["seq"]
        for secret in ("bobs-new-password", made["token"], made["token"].split("_", 2)[2], "scrypt$"):
            assert secret not in log.text
    with desk.client("ana") as ana:
        assert ana.get("/audit").status_code == 403


# --- sessions over time -------------------------------------------------------------------


@pytest.fixture
def short_sessions(tmp_path: Path) -> Iterator[RestDesk]:
    """A desk whose sessions end after 2 s without a request."""
    from labeling.signin import SessionPolicy

    store = open_store(tmp_path / "desk.duckdb")
    import_files(store, [write_jsonl(tmp_path / "s.jsonl", support_records(3))], dataset="support")
    users.add_user(store, "ana", "annotator", PASSWORD, utc_now)
    sessions = SessionPolicy(lifetime=timedelta(hours=1), idle=timedelta(seconds=2))
    server = serve(store, ServeOptions(port=free_port(), sessions=sessions), block=False)
    assert isinstance(server, RunningServer)
    try:
        yield RestDesk(server.local_url, store, tmp_path / "exports")
    finally:
        server.close()
        store.close()


def test_an_idle_session_ends(short_sessions: RestDesk) -> None:
    ana = browser(short_sessions, "ana")
    assert signed_in(ana)
    time.sleep(2.5)
    assert not signed_in(ana)
    assert signed_in(browser(short_sessions, "ana"))


def test_sessions_end_at_their_lifetime_their_idle_time_or_when_the_account_says_so() -> None:
    from labeling.signin import SessionBook, SessionPolicy

    clock = [utc_now()]
    allowed = {"ana": True}
    book = SessionBook(
        SessionPolicy(lifetime=timedelta(hours=12), idle=timedelta(hours=2)),
        lambda user, started: allowed[user],
        now=lambda: clock[0],
    )
    first = book.start("ana")
    for _ in range(5):  # active every 119 minutes: never idle...
        clock[0] += timedelta(minutes=119)
        assert book.get(first) == "ana"
    clock[0] += timedelta(minutes=125)  # ...but 12 h 00 min after it began, it is over
    assert book.get(first) is None and first not in book
    second = book.start("ana")
    clock[0] += timedelta(hours=2)
    assert book.get(second) is None  # 2 h without a request
    third = book.start("ana")
    allowed["ana"] = False
    assert book.get(third) is None  # disabled, or a new password
    assert book.get(None) is None  # type: ignore[arg-type]  # Gradio asks for a missing cookie
    allowed["ana"] = True
    sessions = [book.start("ana") for _ in range(21)]
    assert [book.get(s) for s in sessions] == [None] + ["ana"] * 20  # the oldest gives way


# --- the commands, also through a serving desk --------------------------------------------


def prefdesk(folder: Path, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "apps.cli", *argv, "--db", str(folder / "desk.duckdb")],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent.parent.parent,
    )


def whoami() -> str:
    import getpass

    return getpass.getuser()


def test_account_commands_take_effect_in_a_serving_desk_at_once(
    desk_process: RestDesk, tmp_path: Path
) -> None:
    desk, me = desk_process, f"cli:{whoami()}"
    ana = browser(desk, "ana")
    with desk.client("ana") as script:
        assert script.get("/me").status_code == 200
        disabled = prefdesk(tmp_path, "users", "disable", "ana")
        assert disabled.returncode == 0, disabled.stderr
        assert disabled.stdout == (
            "disabled 'ana': no sign-in, and their sessions and API tokens stop working at once; "
            "their judgments stay (`prefdesk users enable ana` undoes this)\n"
        )
        assert script.get("/me").status_code == 401 and not signed_in(ana)
        listed = prefdesk(tmp_path, "users", "list").stdout.splitlines()
        assert listed[0].startswith("ana\tannotator\tdisabled ")
        assert listed[1:] == ["bob\tannotator\tactive", "root\tadmin\tactive"]

        assert prefdesk(tmp_path, "users", "enable", "ana").returncode == 0
        assert script.get("/me").status_code == 200
        ana = browser(desk, "ana")
        changed = prefdesk(tmp_path, "users", "passwd", "ana", "--password-stdin", stdin="anas-new-pass\n")
        assert changed.returncode == 0, changed.stderr
        assert not signed_in(ana) and sign_in(desk, "ana").status_code == 400
        assert signed_in(browser(desk, "ana", "anas-new-pass"))

        assert script.get("/stats").status_code == 403
        assert prefdesk(tmp_path, "users", "set-role", "ana", "admin").stdout == (
            "'ana' is now admin (was annotator), at their next request, in the browser and through "
            "their API tokens\n"
        )
        assert script.get("/stats").status_code == 200
        assert prefdesk(tmp_path, "users", "disable", "root").returncode == 0  # ana is an admin too now

    made = prefdesk(tmp_path, "tokens", "create", "bob", "--expires-in", "30d")
    assert made.returncode == 0 and ", works until " in made.stderr
    new_id = made.stdout.strip()[3:11]
    (line,) = [t for t in prefdesk(tmp_path, "tokens", "list").stdout.splitlines() if t.startswith(new_id)]
    assert line.startswith(f"{new_id}\tbob\tactive until ") and f"\tby {me}\t" in line

    audit = prefdesk(tmp_path, "audit").stdout.splitlines()
    setup = [
        ["(not recorded)", action, target]
        for name in ("ana", "bob", "root")
        for action, target in (("user.add", name), ("token.create", desk.tokens[name][3:11]))
    ]
    assert [row.split("\t")[1:4] for row in audit] == setup + [
        [me, "user.disable", "ana"],
        [me, "user.enable", "ana"],
        [me, "user.password", "ana"],
        [me, "user.role", "ana"],
        [me, "user.disable", "root"],
        [me, "token.create", new_id],
    ]
    assert "anas-new-pass" not in "\n".join(audit) and made.stdout.strip() not in "\n".join(audit)
