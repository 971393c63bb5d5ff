"""Signing in to the desk in the browser: prefdesk's own /login and /logout in front of Gradio's,
and Gradio's session table replaced by a labeling.signin.SessionBook.

Gradio 6 (gradio/routes.py) checks the password inside its async /login handler, on the event
loop (scrypt stalls every other request), with no limit on guesses; sets its session cookie
`SameSite=None`; signs out on a GET (a link in a prompt signs the reader out everywhere); hands
the session id to any page at GET /gradio_api/token; and keeps sessions for as long as the
process lives. The routes below are registered on the parent app before Gradio is mounted, so
they answer instead of Gradio's:

- POST /login: refused when a browser says it comes from another site's page (Origin); then
  throttled per name and per address (labeling.signin); the password is checked in a worker
  thread, one check at a time per two cores; every failure is logged (`prefdesk.signin`).
  The session cookie is HttpOnly, SameSite=Lax, and Secure over HTTPS.
- POST /logout: ends this browser's session (refused from another site's page).
  GET /logout signs no one out: it goes back to the desk.
- GET /gradio_api/token: 404. The session id stays in its HttpOnly cookie; Gradio's page never
  asks for it.

Gradio still reads the cookie and the session table itself (every page, queue and API call of
the desk), so expiry and disabled accounts apply to all of them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, cast
from urllib.parse import urlsplit

import gradio as gr
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.routing import Mount

from labeling import users
from labeling.signin import SessionBook, SessionPolicy, SignInPolicy, SignInThrottle
from labeling.users import SignIn
from store.db import Store

log = logging.getLogger("prefdesk.signin")

WRONG = "Incorrect credentials: the user name or the password is wrong."


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin or URL, default ports filled in; None if it has none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def foreign_origin(request: Request, public_origins: Sequence[str] = ()) -> str | None:
    """The other site a browser says this request comes from; None for the desk's own pages
    (the request's own scheme://host, or a configured public origin) and for clients that are
    not browsers (no Origin, no Sec-Fetch-Site), which cannot be made to post by another site."""
    origin = request.headers.get("origin")
    if origin is None:
        site = request.headers.get("sec-fetch-site")
        return (
            f"a page of another site (Sec-Fetch-Site: {site})"
            if site in ("cross-site", "same-site")
            else None
        )
    own = {_origin(f"{request.url.scheme}://{request.headers.get('host', '')}")}
    own |= {_origin(public) for public in public_origins}
    found = _origin(origin)
    return None if found is not None and found in own else origin


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "problems": []}, status_code=status, headers=headers)


def _seconds(wait: timedelta) -> int:
    return max(1, math.ceil(wait.total_seconds()))


def _never(name: str, password: str) -> bool:
    """Gradio's own password check, which prefdesk's /login replaces: it lets no one in."""
    return False


class DeskSignIn:
    """The sign-in routes of one desk, and its sessions. `add_routes(app)` before Gradio is
    mounted on `app`, `attach(app)` after."""

    gradio_auth = staticmethod(_never)  # makes Gradio show its sign-in page and require a session

    def __init__(
        self,
        store: Store,
        *,
        policy: SignInPolicy | None = None,
        sessions: SessionPolicy | None = None,
        public_origin: str | None = None,
    ) -> None:
        self.store = store
        self.throttle = SignInThrottle(policy or SignInPolicy())
        self.sessions = SessionBook(
            sessions or SessionPolicy(), lambda user, started: users.session_allowed(store, user, started)
        )
        self.public_origins = (public_origin,) if public_origin else ()
        self.cookie = ""  # Gradio's session cookie name, known once it is mounted
        # scrypt is CPU-bound and takes ~16 MB: a queue of sign-ins must not take every core.
        self._hashing = asyncio.Semaphore(max(1, (os.cpu_count() or 2) // 2))

    def _secure(self, request: Request) -> bool:
        return request.url.scheme == "https" or any(o.startswith("https://") for o in self.public_origins)

    def _refuse_foreign(self, request: Request, what: str) -> Response | None:
        foreign = foreign_origin(request, self.public_origins)
        if foreign is None:
            return None
        log.warning("%s refused: the request came from %s, not from the desk's own page", what, foreign)
        return _error(
            403,
            f"{what} refused: the request came from {foreign}, not from this desk's own page. "
            "Open the desk's address and use its form",
        )

    def _throttled(self, name: str, address: str) -> Response | None:
        wait = self.throttle.wait(name, address)
        if not wait:
            return None
        seconds = _seconds(wait)
        return _error(
            429,
            f"too many failed sign-ins for this user name or from this address: try again in {seconds} s",
            {"Retry-After": str(seconds)},
        )

    async def login(
        self, request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()]
    ) -> Response:
        refused = self._refuse_foreign(request, "sign-in")
        if refused is not None:
            return refused
        name = username.strip()
        address = request.client.host if request.client else "unknown"
        throttled = self._throttled(name, address)
        if throttled is not None:
            return throttled
        async with self._hashing:
            throttled = self._throttled(name, address)  # failures counted while this one waited
            if throttled is not None:
                return throttled
            outcome = await run_in_threadpool(users.check_password, self.store, name, password)
        if outcome is not SignIn.OK:
            wait = self.throttle.failed(name, address)
            who = "an unknown user name (not logged: it may be a password typed there)"
            if outcome is not SignIn.UNKNOWN_USER:
                who = repr(name)
            then = f"; the next attempt waits {_seconds(wait)} s" if wait else ""
            log.warning("sign-in failed for %s from %s: %s%s", who, address, outcome.value, then)
            return _error(400, WRONG)
        self.throttle.succeeded(name)
        log.info("%r signed in from %s", name, address)
        response = JSONResponse({"success": True})
        response.set_cookie(
            self.cookie,
            self.sessions.start(name),
            httponly=True,
            samesite="lax",
            secure=self._secure(request),
            path="/",
        )
        return response

    async def logout(self, request: Request) -> Response:
        refused = self._refuse_foreign(request, "sign-out")
        if refused is not None:
            return refused
        session_id = request.cookies.get(self.cookie)
        if session_id:
            self.sessions.end(session_id)
        response = RedirectResponse("./", status_code=303)
        response.delete_cookie(
            self.cookie, path="/", httponly=True, samesite="lax", secure=self._secure(request)
        )
        return response

    async def logout_by_link(self) -> Response:
        """A link (one in a prompt, say) signs no one out: signing out is the page's button."""
        return RedirectResponse("./", status_code=303)

    async def no_session_token(self) -> Response:
        return _error(
            404, "this desk does not hand out session ids: the session stays in its HttpOnly cookie"
        )

    def add_routes(self, app: FastAPI) -> None:
        for path in ("/login", "/login/"):
            app.add_api_route(path, self.login, methods=["POST"], include_in_schema=False)
        app.add_api_route("/logout", self.logout, methods=["POST"], include_in_schema=False)
        app.add_api_route("/logout", self.logout_by_link, methods=["GET"], include_in_schema=False)
        for path in ("/gradio_api/token", "/gradio_api/token/"):
            app.add_api_route(path, self.no_session_token, methods=["GET"], include_in_schema=False)

    def attach(self, app: FastAPI) -> None:
        """Take over the session table of the Gradio desk mounted on `app`."""
        mounted = [r for r in app.routes if isinstance(r, Mount) and isinstance(r.app, gr.routes.App)]
        if len(mounted) != 1:
            raise RuntimeError(f"expected one mounted Gradio app, found {len(mounted)}")
        desk = cast(gr.routes.App, mounted[0].app)
        mine = [n for n, r in enumerate(app.routes) if getattr(r, "endpoint", None) == self.login]
        if not mine or max(mine) > app.routes.index(mounted[0]):
            raise RuntimeError("the sign-in routes must be added before Gradio is mounted")
        desk.tokens = self.sessions  # type: ignore[assignment]  # Gradio uses get, [], del, keys
        self.cookie = f"access-token-{desk.cookie_id}"
