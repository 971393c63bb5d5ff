"""The HTTP edge of a served desk, attacked as a stranger, an annotator and another website would:
oversized bodies (declared and streamed), calls without a token or a session, another site's
Origin under a real hostname, framing, the API docs' assets, uploads, TLS and proxies, and a
`shown_at` out of range."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.app.conftest import RestDesk, judgment_body, rest_desk

__all__ = ["rest_desk"]  # the fixture, from tests/app/conftest.py


# --- the API docs ------------------------------------------------------------------------------


def test_the_api_docs_load_nothing_from_another_host(rest_desk: RestDesk) -> None:
    with httpx.Client(base_url=rest_desk.url) as browser:
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
def test_the_api_docs_render_in_chromium_from_the_desk_alone(rest_desk: RestDesk) -> None:
    import os

    from playwright.sync_api import sync_playwright

    hosts: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("PREFDESK_CHROMIUM", "/usr/bin/chromium"),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page()
            page.on("request", lambda request: hosts.append(httpx.URL(request.url).netloc.decode()))
            page.goto(rest_desk.url + "api/docs")
            page.get_by_text("/api/v1/pairs/next").wait_for(timeout=30_000)
        finally:
            browser.close()
    desk_host = httpx.URL(rest_desk.url).netloc.decode()
    assert hosts and set(hosts) == {desk_host}


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
