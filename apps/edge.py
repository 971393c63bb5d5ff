"""The desk's HTTP edge: what every request meets before the REST API or Gradio reads a byte of
its body, and what every response carries.

    app.add_middleware(BodyGuard, limits=BodyLimits(import_bytes=64 * MiB), token_user=..., session=...)
    app.add_middleware(SecurityHeaders)

`BodyGuard`, from the headers alone:
- refuses uploads to Gradio (403): nothing on the desk asks for a file;
- checks a REST call's API token (401), and for imports the admin role (403); a Gradio call
  that sends a body needs a signed-in session (401) when the desk has accounts;
- refuses a body whose Content-Length is over its route's limit (413);
then counts the body's bytes as they stream in (chunked bodies declare no length) and answers
413 the moment they pass the limit. A refusal closes the connection: the rest is never read.
FastAPI reads and parses a body before it runs any dependency, and Gradio likewise, so these
checks cannot live in the handlers. Errors are the REST API's JSON: {"error", "problems"}.

`SecurityHeaders` forbids framing (X-Frame-Options, CSP frame-ancestors) and MIME sniffing,
keeps the desk's addresses out of Referer headers sent elsewhere, and sends HSTS over HTTPS.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apps.api_common import CALLER_SCOPE_KEY, NO_TOKEN, PREFIX, needs_admin
from labeling.models import UserRole
from labeling.tokens import TokenCheck

KiB, MiB = 1024, 1024 * 1024
SMALL_BODY = 256 * KiB  # a judgment with a 5,000-character rationale, \u-escaped, is under 64 KiB
TINY_BODY = 64 * KiB  # the sign-in form; Gradio's cancel/reset/heartbeat; anything unknown
HSTS = "max-age=31536000"

NO_SESSION = "sign in first: this request needs a signed-in session of the desk (open the desk and sign in)"
NO_UPLOADS = "this desk takes no file uploads: nothing on it asks for a file"
IMPORT_ADVICE = (
    "Send the records in smaller batches, or raise the limit with `prefdesk serve --max-import-mb`."
)

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Gradio 6.31's routes that take a file (gradio/routes.py): the desk has no file input.
_UPLOADS = re.compile(r"^/gradio_api/(upload|process_recording)/?$")
# Gradio's event routes (queue/join, run/predict, api/NAME, call/NAME, stream/ID): the inputs of
# a click. The desk's are ids, a verdict and a rationale.
_EVENTS = re.compile(r"^/gradio_api/(queue/join|run/|api/|call/|stream/|component_server)")
# Sent before anyone has signed in (or to sign out): no session to ask for.
_BEFORE_SIGN_IN = re.compile(r"^/(login|logout)/?$")


class Guard(Enum):
    TOKEN = "an API token"
    ADMIN = "an admin's API token"
    SESSION = "a signed-in session"
    OPEN = "nothing"
    REFUSED = "never served"


@dataclass(frozen=True)
class Rule:
    guard: Guard
    limit: int  # bytes of body at most
    advice: str = "Send a smaller body."


@dataclass(frozen=True)
class BodyLimits:
    import_bytes: int  # POST /api/v1/items: `prefdesk serve --max-import-mb`

    def rule(self, method: str, path: str) -> Rule:
        """What a request must show, and how much body it may send, by route."""
        if path == PREFIX or path.startswith(PREFIX + "/"):
            if method == "POST" and path.rstrip("/") == f"{PREFIX}/items":
                return Rule(Guard.ADMIN, self.import_bytes, IMPORT_ADVICE)
            return Rule(Guard.TOKEN, SMALL_BODY)
        if path.startswith("/api/"):  # the API's docs and schema: nothing to send
            return Rule(Guard.OPEN, TINY_BODY)
        if _UPLOADS.match(path):
            return Rule(Guard.REFUSED, 0)
        if _BEFORE_SIGN_IN.match(path):
            return Rule(Guard.OPEN, TINY_BODY)
        return Rule(Guard.SESSION, SMALL_BODY if _EVENTS.match(path) else TINY_BODY)


def describe_size(size: int) -> str:
    for unit, name in ((MiB, "MiB"), (KiB, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} bytes"


def _too_large(method: str, path: str, rule: Rule) -> str:
    return (
        f"the request body is larger than the {describe_size(rule.limit)} ({rule.limit} bytes) that "
        f"{method} {path[:200]} accepts: nothing was stored. {rule.advice}"
    )


def _bearer(headers: Headers) -> str | None:
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


TokenUser = Callable[[str], Awaitable[TokenCheck]]  # the token's user, or why it does not work
SessionCheck = Callable[[Scope], Awaitable[bool]]


class BodyGuard:
    """See the module's docstring. `session` is None when the desk has no accounts (no one
    signs in), and then Gradio's routes only have their limits."""

    def __init__(
        self, app: ASGIApp, *, limits: BodyLimits, token_user: TokenUser, session: SessionCheck | None
    ):
        self.app, self.limits, self.token_user, self.session = app, limits, token_user, session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        headers = Headers(scope=scope)
        rule = self.limits.rule(method, path)
        try:
            declared = int(headers["content-length"]) if "content-length" in headers else None
        except ValueError:
            await _refuse(scope, send, 400, "the Content-Length header is not a number", close=True)
            return
        has_body = bool(declared) or "transfer-encoding" in headers

        async def refuse(status: int, message: str, **extra: str) -> None:
            await _refuse(scope, send, status, message, close=has_body, **extra)

        if rule.guard is Guard.REFUSED:
            return await refuse(403, NO_UPLOADS)
        if rule.guard in (Guard.TOKEN, Guard.ADMIN):
            token = _bearer(headers)
            if token is None:
                return await refuse(401, NO_TOKEN, www_authenticate="Bearer")
            checked = await self.token_user(token)
            user = checked.user
            if user is None:
                return await refuse(401, checked.refusal, www_authenticate="Bearer")
            if rule.guard is Guard.ADMIN and user.role is not UserRole.ADMIN:
                return await refuse(403, needs_admin(user))
            scope[CALLER_SCOPE_KEY] = user  # the API's `caller` dependency takes it from here
        elif (
            rule.guard is Guard.SESSION
            and self.session is not None
            and (has_body or method in _BODY_METHODS)
            and not await self.session(scope)
        ):
            return await refuse(401, NO_SESSION)
        if declared is not None and declared > rule.limit:
            return await refuse(413, _too_large(method, path, rule))
        if not has_body:
            await self.app(scope, receive, send)
            return
        await _CountedBody(scope, receive, send, _too_large(method, path, rule), rule.limit).run(self.app)


class _CountedBody:
    """One request's body, counted as the app reads it: past the limit the client gets a 413
    (unless the app has begun its answer) and the app sees the client leave."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, message: str, limit: int) -> None:
        self.scope, self._receive, self._send = scope, receive, send
        self.message, self.limit = message, limit
        self.received = 0
        self.cut = False  # the limit was passed: the app reads no more
        self.replaced = False  # and the client got our 413 instead of the app's answer
        self.started = False

    async def run(self, app: ASGIApp) -> None:
        await app(self.scope, self.receive, self.send)

    async def receive(self) -> Message:
        if self.cut:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.cut = True
                if not self.started:
                    self.replaced = True
                    await _refuse(self.scope, self._send, 413, self.message, close=True)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.replaced:
            return  # the app's answer to a body it never got whole: the client has ours
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def _refuse(
    scope: Scope, send: Send, status: int, message: str, *, close: bool, www_authenticate: str | None = None
) -> None:
    headers = {"Connection": "close"} if close else {}
    if www_authenticate:
        headers["WWW-Authenticate"] = www_authenticate

    async def no_body() -> Message:  # a JSONResponse reads nothing; never let it wait for the body
        return {"type": "http.disconnect"}

    await JSONResponse({"error": message, "problems": []}, status_code=status, headers=headers)(
        scope, no_body, send
    )


class SecurityHeaders:
    """On every response: no framing by other pages (clickjacking), no MIME sniffing, no Referer
    with the desk's paths sent to other sites, and over HTTPS (direct, or a trusted proxy's
    X-Forwarded-Proto) HSTS, so a browser never again tries the desk over plain HTTP."""

    FIXED = (
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", []))
                headers = MutableHeaders(scope=message)
                for name, value in self.FIXED:
                    headers[name] = value
                policy = headers.get("content-security-policy")
                headers["content-security-policy"] = (
                    f"{policy}; frame-ancestors 'none'" if policy else "frame-ancestors 'none'"
                )
                if https:
                    headers["strict-transport-security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def cors_options(allowed_origins: tuple[str, ...], public_origin: str | None) -> dict[str, Any]:
    """Starlette's CORSMiddleware on the parent app: only these origins' pages may read the
    REST API's answers, with an API token and never with cookies. Its presence also makes
    Gradio's own CORS middleware stand aside (it reflects any Origin, with credentials, once
    the Host is not localhost)."""
    origins = list(dict.fromkeys([*allowed_origins, *([public_origin] if public_origin else [])]))
    return {
        "allow_origins": origins,
        "allow_methods": ["GET", "POST", "DELETE"],
        "allow_headers": ["Authorization", "Content-Type"],
        "allow_credentials": False,
        "max_age": 600,
    }
