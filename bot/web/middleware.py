"""HTTP hardening, as pure ASGI middleware: nothing here buffers a response, so SSE streams flow.

``create_app`` stacks them, outermost first (CORS, when configured, sits between the two so that the
refusals below carry CORS headers and a widget on another origin can read them)::

    SecurityHeaders  request id (``X-Request-ID``) and security headers on every response
    [CORS]
    Guard            every unexpected exception -> one-shape 500 (the connection is kept alive);
                     body size limit -> 413; cross-site cookie writes -> 403 ``bad_origin``

Security headers
    Every response: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (a
    conversation's credential may be in an EventSource URL), ``Cross-Origin-Opener-Policy:
    same-origin``, ``X-Frame-Options: DENY`` and a CSP with ``frame-ancestors 'none'``;
    ``Strict-Transport-Security`` when ``HELPDESK_PUBLIC_URL`` is https. The CSP depends on what is
    served: the agent console (``/console``) and the demo invoice page (``/``) get a page policy
    (``default-src 'self'``; scripts from the desk only, inline scripts of the page itself allowed by
    their sha256, computed from the HTML file; ``style-src 'self' 'unsafe-inline'`` because both
    pages have an inline ``<style>``, a ``style="..."`` attribute, and console.js and widget.js set
    ``style`` attributes), the API docs (``/docs``, ``/redoc``, which load Swagger UI and ReDoc from a
    CDN) only ``frame-ancestors 'none'``, everything else (JSON, scripts, event streams)
    ``default-src 'none'``.

What a host page's CSP must allow for the widget
    A page that embeds ``<script src="https://DESK/widget.js">`` and sends a Content-Security-Policy
    must allow, with DESK the desk's origin (e.g. ``https://help.example.com``):

    - ``script-src DESK`` (widget.js itself; it needs neither ``'unsafe-eval'`` nor inline script);
    - ``connect-src DESK`` (its ``fetch`` calls to ``DESK/api/...`` and the ``EventSource`` of
      ``DESK/api/conversations/{id}/events``);
    - ``style-src 'unsafe-inline'`` (or ``style-src-elem`` and ``style-src-attr`` both
      ``'unsafe-inline'``): the widget puts its CSS in a ``<style>`` element inside its shadow root
      and sets a ``style`` attribute on its host element with ``setAttribute``; CSP applies to both
      inside a shadow root, the widget takes no nonce, and a hash of its CSS would change with every
      widget version. Setting ``element.style.*`` (which it also does) is not restricted by CSP.

    Nothing else: no images (its icons are inline SVG markup), no fonts (system fonts), no frames.
    A page enforcing Trusted Types (``require-trusted-types-for 'script'``) breaks the widget: it
    assigns ``innerHTML`` (icons, and bot answers rendered by markdown-it without raw HTML and sanitised by DOMPurify). Independently of CSP, the
    desk must list the host page's origin in ``HELPDESK_CORS_ORIGINS``.

Cross-site writes (CSRF)
    A POST/PUT/PATCH/DELETE that carries the console's session cookie and no ``Authorization`` header
    must come with an ``Origin`` (or, without one, a ``Referer``) whose scheme, host and port are the
    request's own, ``HELPDESK_PUBLIC_URL``'s or one of ``HELPDESK_CORS_ORIGINS``; otherwise 403
    ``bad_origin`` before the route runs (this covers a forced sign-out too). The cookie is
    ``SameSite=Strict`` already; this also stops same-site pages on other origins (sibling
    subdomains) and browsers without SameSite.

Body size
    A request whose ``Content-Length`` exceeds ``max_body_bytes`` gets 413 before its body is read; a
    body without ``Content-Length`` (chunked) is read up to the limit and refused once it passes it.
    uvicorn discards the unread rest and keeps the connection.

500
    An exception that escapes a route becomes the one-shape 500 (``internal_error``, with the request
    id, logged with its traceback), answered here rather than by Starlette's outermost
    ``ServerErrorMiddleware``, which re-raises after answering and so makes uvicorn close the
    keep-alive connection.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request, cookie_parser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.settings import Settings
from bot.web import errors
from bot.web.deps import SESSION_COOKIE

STATIC = Path(__file__).resolve().parent / "static"
PAGES = {"/": "demo.html", "/console": "console.html", "/conversation": "conversation.html", "/metrics": "metrics.html", "/content": "content.html"}  # the HTML pages bot.web.routes.console serves
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
HSTS = "max-age=31536000"
_DEFAULT_PORT = {"http": 80, "https": 443, "ws": 80, "wss": 443}

Origin = tuple[str, str, int]


# ----------------------------------------------------------------------------------------- helpers


def origin_of(url: str | None) -> Origin | None:
    """``(scheme, host, port)`` of a URL or an ``Origin`` header value; None when it has none
    (``null``, a relative URL, garbage)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORT or not host:
        return None
    return scheme, host, port or _DEFAULT_PORT[scheme]


def is_https(url: str | None) -> bool:
    return url is not None and urlsplit(url.strip()).scheme.lower() == "https"


def cookie_secure(request: Request, settings: Settings) -> bool:
    """Whether a cookie the desk sets must be ``Secure``: always when ``HELPDESK_PUBLIC_URL`` is https
    (whatever the proxy headers say: a TLS-terminating proxy may forward plain http without
    ``X-Forwarded-Proto``), and whenever this request itself came over https."""
    return is_https(settings.public_url) or request.url.scheme == "https"


def request_id(scope: Scope) -> str | None:
    """The id ``SecurityHeadersMiddleware`` gave this request (``request.state.request_id``)."""
    state = scope.get("state")
    rid = state.get("request_id") if isinstance(state, dict) else None
    return rid if isinstance(rid, str) else None


def route_path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def _own_origin(scope: Scope) -> Origin | None:
    scheme = scope.get("scheme", "http")
    host = Headers(scope=scope).get("host")
    if not host and scope.get("server"):
        server_host, server_port = scope["server"]
        host = f"{server_host}:{server_port}" if server_port else server_host
    return origin_of(f"{scheme}://{host}") if host else None


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode() + "'"


_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.S | re.I)


@lru_cache(maxsize=16)
def _inline_script_hashes(path: Path, _stamp: tuple[int, int]) -> tuple[str, ...]:
    try:
        html = path.read_text(encoding="utf-8")
    except OSError:
        return ()
    return tuple(_hash(m.group(1)) for m in _INLINE_SCRIPT.finditer(html))


def inline_script_hashes(path: Path) -> tuple[str, ...]:
    """CSP sources (``'sha256-...'``) of the inline ``<script>`` elements of an HTML file, recomputed
    when the file changes."""
    try:
        st = path.stat()
    except OSError:
        return ()
    return _inline_script_hashes(path, (st.st_mtime_ns, st.st_size))


def page_csp(html: Path) -> str:
    """The CSP of one of the desk's HTML pages (the console, the demo page hosting the widget)."""
    scripts = " ".join(("'self'", *inline_script_hashes(html)))
    return (
        f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = "frame-ancestors 'none'"


# -------------------------------------------------------------------------------------- middleware


class SecurityHeadersMiddleware:
    """Gives each request an id (``request.state.request_id``, echoed in ``X-Request-ID``; a sane
    incoming ``X-Request-ID`` is kept) and every response the security headers."""

    def __init__(self, app: ASGIApp, settings: Settings, docs_paths: Iterable[str | None] = ()) -> None:
        self.app = app
        self.docs_paths = frozenset(p for p in docs_paths if p)
        self.common = {
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cross-Origin-Opener-Policy": "same-origin",
            "X-Frame-Options": "DENY",
        }
        if is_https(settings.public_url):
            self.common["Strict-Transport-Security"] = HSTS

    def csp(self, path: str) -> str:
        if path in PAGES:
            return page_csp(STATIC / PAGES[path])
        if path in self.docs_paths:
            return DOCS_CSP
        return API_CSP

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        rid = incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        path = route_path(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.common.items():
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", self.csp(path))
                headers["X-Request-ID"] = rid
            await send(message)

        await self.app(scope, receive, send_with_headers)


class GuardMiddleware:
    """Refuses cross-site cookie writes (403) and oversized bodies (413) before the route runs, and
    turns an exception that escapes the app into the one-shape 500."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.max_body = settings.max_body_bytes
        # the console's own origin only: host pages that embed the widget (CORS origins) never write
        # with the console's cookie
        trusted = [settings.public_url]
        self.trusted = frozenset(o for o in (origin_of(u) for u in trusted if u and u != "*") if o)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._guarded(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # too late for a 500: uvicorn ends the response (and the connection)
                raise
            await self._internal_error(scope, exc)(scope, receive, send)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        declared = _content_length(headers)
        if declared is not None and declared > self.max_body:
            await self._too_large()(scope, receive, send)
            return
        if scope["method"] in WRITE_METHODS and not self._origin_ok(scope, headers):
            await errors.json_error(
                403,
                "bad_origin",
                "This request carries the console's sign-in cookie but does not come from the console's "
                "own site (its Origin is missing or foreign), so it is refused. Use the console, or an "
                "API token (Authorization: Bearer ...) for scripts.",
            )(scope, receive, send)
            return
        if declared is None and _may_stream_body(scope, headers):
            buffered = await self._read_limited(receive)
            if buffered is None:
                await self._too_large()(scope, receive, send)
                return
            receive = _replay(buffered, receive)
        await self.app(scope, receive, send)

    def _origin_ok(self, scope: Scope, headers: Headers) -> bool:
        if headers.get("authorization") or not _has_session_cookie(headers):
            return True
        origin = headers.get("origin")
        claimed = origin_of(origin) if origin is not None else origin_of(headers.get("referer"))
        return claimed is not None and (claimed == _own_origin(scope) or claimed in self.trusted)

    async def _read_limited(self, receive: Receive) -> list[Message] | None:
        """The request's messages, up to the end of its body; None once the body passes the limit."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.max_body:
                return None
            if not message.get("more_body", False):
                return messages

    def _too_large(self) -> JSONResponse:
        return errors.json_error(
            413,
            "body_too_large",
            f"The request body is larger than {self.max_body} bytes; send less.",
            [{"limit_bytes": self.max_body}],
        )

    def _internal_error(self, scope: Scope, exc: Exception) -> JSONResponse:
        rid = request_id(scope) or uuid.uuid4().hex
        return errors.internal_error(rid, exc, f"{scope.get('method', '')} {route_path(scope)}")


def _content_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _may_stream_body(scope: Scope, headers: Headers) -> bool:
    """A body without Content-Length: chunked in HTTP/1.1, or any HTTP/2 request (HTTP/1.1 without
    either header has no body)."""
    return "transfer-encoding" in headers or not str(scope.get("http_version", "1.1")).startswith("1")


def _has_session_cookie(headers: Headers) -> bool:
    return any(SESSION_COOKIE in cookie_parser(value) for value in headers.getlist("cookie"))


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that first gives the buffered body as one message, then asks ``receive``."""
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    pending += [m for m in messages if m["type"] != "http.request"]

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
