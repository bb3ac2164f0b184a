"""HTTP hardening (bot/web/middleware.py): security headers, cross-site cookie writes, body size, 500s.

Most checks go through Starlette's TestClient (``http://testserver``); what depends on the HTTP
server itself (chunked uploads, keep-alive after a 413 or a 500, an unbuffered event stream) runs
against a real uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.web.app import create_app
from bot.web.middleware import STATIC, cookie_secure, origin_of
from tests.support import AGENT, real_server

SAME = {"Origin": "http://testserver"}
EVIL = {"Origin": "https://evil.example"}
PASSWORD = "carol-pass-123"


def signed_in(client: Any, services: Any) -> None:
    services.accounts.add("carol", PASSWORD)
    r = client.post("/api/console/login", json={"username": "carol", "password": PASSWORD})
    assert r.status_code == 200 and "helpdesk_session" in client.cookies


def assert_error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert set(r.json()) == {"error"} and set(err) == {"code", "message", "details"}
    assert err["code"] == code
    return err


def csp(r: Any) -> dict[str, str]:
    directives = (d.strip() for d in r.headers["content-security-policy"].split(";"))
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] if " " in d else "" for d in directives if d}


COMMON = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "x-frame-options": "DENY",
}


# ----------------------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    "path", ["/console", "/", "/widget.js", "/console.js", "/api/health", "/openapi.json"]
)
def test_security_headers_on_pages_scripts_and_api(client: Any, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    for name, value in COMMON.items():
        assert r.headers[name] == value, name
    assert csp(r)["frame-ancestors"] == "'none'"
    assert "strict-transport-security" not in r.headers  # no https public URL configured
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


def test_error_responses_carry_the_headers_too(client: Any) -> None:
    r = client.get("/api/agent/handoffs/1")  # 401
    assert r.status_code == 401 and r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff" and "x-request-id" in r.headers


def test_console_page_policy(client: Any) -> None:
    policy = csp(client.get("/console"))
    assert policy == {
        "default-src": "'self'",
        "script-src": "'self'",  # console.html has no inline script
        "style-src": "'self' 'unsafe-inline'",  # inline <style>, a style attribute, console.js sets styles
        "connect-src": "'self'",
        "img-src": "'self' data:",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    html = (STATIC / "console.html").read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script would need its hash"


def test_demo_page_allows_exactly_its_own_inline_script(client: Any) -> None:
    policy = csp(client.get("/"))
    inline = re.findall(
        r"<script>(.*?)</script>", (STATIC / "demo.html").read_text(encoding="utf-8"), flags=re.S
    )
    assert inline, "demo.html has its language switcher inline"
    hashes = {
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in inline
    }
    assert set(policy["script-src"].split()) == {"'self'", *hashes}
    assert policy["connect-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" in policy["style-src"]  # the widget's <style> and style attribute


def test_api_responses_allow_nothing_to_run(client: Any) -> None:
    policy = csp(client.get("/api/health"))
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    # Swagger UI loads from a CDN and runs an inline script: only framing is denied
    docs = client.get("/docs")
    assert docs.status_code == 200 and csp(docs) == {"frame-ancestors": "'none'"}


def test_hsts_and_secure_cookie_when_the_public_url_is_https(services: Any) -> None:
    settings = services.settings.model_copy(update={"public_url": "https://help.example.com"})
    with TestClient(create_app(settings, services)) as c:
        r = c.get("/api/health")
        assert r.headers["strict-transport-security"].startswith("max-age=")

        class _Req:  # an http request behind a TLS-terminating proxy that sent no X-Forwarded-Proto
            url = httpx.URL("http://help.example.com/api/console/login")

        assert cookie_secure(_Req(), settings) is True  # type: ignore[arg-type]
        assert cookie_secure(_Req(), services.settings) is False  # type: ignore[arg-type]
        # a write carrying the cookie from the public origin is accepted although the Host differs
        c.cookies.set("helpdesk_session", "stale")
        r = c.post("/api/console/logout", headers={"Origin": "https://help.example.com"})
        assert r.status_code == 200


def test_request_id_is_generated_or_echoed_when_sane(client: Any) -> None:
    a, b = client.get("/api/health"), client.get("/api/health")
    assert a.headers["x-request-id"] != b.headers["x-request-id"]
    assert client.get("/api/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    for bad in ["x" * 65, "a b", "id;drop", "ünï".encode("latin-1")]:
        rid = client.get("/api/health", headers={"X-Request-ID": bad}).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid), bad


def test_origin_parsing() -> None:
    assert origin_of("https://Help.Example.com") == ("https", "help.example.com", 443)
    assert origin_of("http://127.0.0.1:8000/console?x=1") == ("http", "127.0.0.1", 8000)
    assert origin_of("http://[::1]:8000") == ("http", "::1", 8000)
    for bad in [
        None,
        "",
        "null",
        "/console",
        "javascript:alert(1)",
        "http://host:99999",
        "file:///etc/passwd",
    ]:
        assert origin_of(bad) is None, bad


# ------------------------------------------------------------------------------- cross-site writes


def test_cross_site_cookie_write_is_refused_and_same_origin_passes(client: Any, services: Any) -> None:
    signed_in(client, services)
    err = assert_error(client.post("/api/agent/handoffs/999/claim", json={}, headers=EVIL), 403, "bad_origin")
    assert "Origin" in err["message"]
    # refused before the route runs; from the console's own origin the route answers (no such handoff)
    assert_error(client.post("/api/agent/handoffs/999/claim", json={}, headers=SAME), 404, "not_found")
    # without Origin, the Referer decides; `Origin: null` (sandboxed frames, some redirects) is foreign
    ok = client.post(
        "/api/agent/handoffs/999/claim", json={}, headers={"Referer": "http://testserver/console"}
    )
    assert ok.status_code == 404
    for headers in [
        {"Referer": "https://evil.example/x"},
        {"Origin": "null"},
        {},
        {"Origin": "http://testserver:8080"},
    ]:
        assert_error(
            client.post("/api/agent/handoffs/999/claim", json={}, headers=headers), 403, "bad_origin"
        )
    # a port, scheme or host that differs is another origin; the same origin spelled differently is not
    r = client.post("/api/agent/handoffs/999/claim", json={}, headers={"Origin": "HTTP://TestServer:80"})
    assert r.status_code == 404


def test_writes_with_an_api_token_or_without_the_cookie_need_no_origin(client: Any, services: Any) -> None:
    r = client.post("/api/chat", json={"message": "How do I issue a credit note?"}, headers=EVIL)
    assert r.status_code == 200  # the widget: no cookie (it sends credentials: "omit")
    signed_in(client, services)
    r = client.post("/api/agent/handoffs/999/claim", json={}, headers={**AGENT, **EVIL})
    assert r.status_code == 404  # an Authorization header is not something a foreign page can add
    assert client.get("/api/console/me", headers=EVIL).status_code == 200  # reads are not guarded


def test_forced_cross_site_sign_out_is_refused(client: Any, services: Any) -> None:
    signed_in(client, services)
    assert_error(client.post("/api/console/logout", headers=EVIL), 403, "bad_origin")
    assert client.get("/api/console/me").status_code == 200  # still signed in
    assert client.post("/api/console/logout", headers=SAME).status_code == 200
    assert client.get("/api/console/me").status_code == 401


def test_cors_refusals_are_readable_by_a_listed_origin(services: Any) -> None:
    settings = services.settings.model_copy(update={"cors_origins": ["https://app.example.com"]})
    with TestClient(create_app(settings, services)) as c:
        r = c.post("/api/chat", content=b"x" * 100_000, headers={"Origin": "https://app.example.com"})
        assert_error(r, 413, "body_too_large")
        assert r.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
        assert r.headers["x-frame-options"] == "DENY"


# ---------------------------------------------------------------------------------------- body size


def test_body_over_the_limit_is_refused_before_it_is_read(client: Any) -> None:
    big = json.dumps({"message": "x" * 100_000}).encode()
    err = assert_error(
        client.post("/api/chat", content=big, headers={"Content-Type": "application/json"}),
        413,
        "body_too_large",
    )
    assert err["details"] == [{"limit_bytes": 64 * 1024}]
    # also where the route takes no body, and for the API's other writes
    assert_error(client.post("/api/console/logout", content=b"x" * 70_000), 413, "body_too_large")
    ok = client.post("/api/chat", json={"message": "How do I issue a credit note?"})
    assert ok.status_code == 200


def test_chunked_body_through_the_test_client(client: Any) -> None:
    def chunks(total: int) -> Iterator[bytes]:
        for _ in range(total // 10_000):
            yield b" " * 10_000

    r = client.post("/api/chat", content=chunks(100_000), headers={"Content-Type": "application/json"})
    assert_error(r, 413, "body_too_large")


def test_a_body_json_cannot_read_is_a_422_like_any_malformed_body(client: Any) -> None:
    # FastAPI itself answers 400 for these (and 422 for other malformed JSON); the OpenAPI documents 422
    for raw, problem in [(b'{"message": "\xc3("}', "not UTF-8"), (b"[" * 5000 + b"]" * 5000, "nested")]:
        r = client.post("/api/chat", content=raw, headers={"Content-Type": "application/json"})
        err = assert_error(r, 422, "invalid_request")
        assert problem in err["message"], err
    assert_error(
        client.post("/api/chat", content=b"{nope", headers={"Content-Type": "application/json"}),
        422,
        "invalid_request",
    )


def test_405_keeps_its_allow_header(client: Any) -> None:
    r = client.request("TRACE", "/api/chat")
    assert_error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "POST"


# ------------------------------------------------------------------------------------- 500 (fresh app)


def _app_with_a_bug(services: Any) -> FastAPI:
    app = create_app(services.settings, services)

    @app.get("/test-only/boom")
    def boom() -> None:
        raise RuntimeError("secret internals: /srv/helpdesk/db password=hunter2")

    @app.post("/test-only/boom")
    async def boom_async(payload: dict[str, Any]) -> None:
        raise KeyError("another secret")

    return app


def test_500_is_the_one_shape_with_a_request_id_and_no_internals(
    services: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(_app_with_a_bug(services)) as c:
        caplog.set_level(logging.ERROR, logger="helpdesk.errors")
        for r in [c.get("/test-only/boom"), c.post("/test-only/boom", json={"a": 1}, headers=SAME)]:
            err = assert_error(r, 500, "internal_error")
            rid = r.headers["x-request-id"]
            assert err["details"] == [{"request_id": rid}] and rid in err["message"]
            assert "saved" not in err["message"] and "lost" not in err["message"]  # no claim either way
            assert "Traceback" not in r.text and "secret" not in r.text and "RuntimeError" not in r.text
            assert r.headers["x-frame-options"] == "DENY"
            logged = [rec for rec in caplog.records if rid in rec.getMessage()]
            assert logged and logged[0].exc_info is not None  # the traceback is in the log, with the id
        r = c.get("/test-only/boom", headers={"X-Request-ID": "support-case-42"})
        assert r.json()["error"]["details"] == [{"request_id": "support-case-42"}]


# ----------------------------------------------------------------------------------- a real uvicorn


def _chunked(
    conn: http.client.HTTPConnection, path: str, total: int, chunk: int = 8192
) -> http.client.HTTPResponse:
    body = json.dumps({"message": "How do I issue a credit note?" + " " * max(0, total - 50)}).encode()
    pieces = (body[i : i + chunk] for i in range(0, len(body), chunk))
    conn.request("POST", path, body=pieces, headers={"Content-Type": "application/json"}, encode_chunked=True)
    return conn.getresponse()


def test_real_server_chunked_upload_limit_and_keep_alive(services: Any) -> None:
    with real_server(create_app(services.settings, services)) as (host, port):
        conn = http.client.HTTPConnection(host, port, timeout=30)
        r = _chunked(conn, "/api/chat", 100_000)
        payload = json.loads(r.read())
        assert r.status == 413 and payload["error"]["code"] == "body_too_large"
        assert r.getheader("content-length") and not r.will_close
        local = conn.sock.getsockname()
        # the connection survives the refusal: a chunked body under the limit is answered on it
        r = _chunked(conn, "/api/chat", 1_000)
        assert r.status == 200, r.read()
        assert json.loads(r.read())["reply"]["kind"] in {"answer", "clarify", "handoff"}
        assert conn.sock.getsockname() == local
        # a declared Content-Length over the limit: 413 without reading, connection kept
        conn.request(
            "POST",
            "/api/chat",
            body=b"{" + b" " * 100_000 + b"}",
            headers={"Content-Type": "application/json"},
        )
        r = conn.getresponse()
        assert r.status == 413 and json.loads(r.read())["error"]["code"] == "body_too_large"
        conn.request("GET", "/api/health")
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["status"] == "ok"
        assert conn.sock.getsockname() == local
        conn.close()


def test_real_server_500_keeps_the_connection(services: Any) -> None:
    with real_server(_app_with_a_bug(services)) as (host, port):
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("GET", "/test-only/boom")
        r = conn.getresponse()
        body = r.read()
        assert r.status == 500 and not r.will_close
        assert json.loads(body)["error"]["code"] == "internal_error" and b"Traceback" not in body
        local = conn.sock.getsockname()
        conn.request(
            "POST", "/test-only/boom", body=b'{"a": 1}', headers={"Content-Type": "application/json"}
        )
        r = conn.getresponse()
        assert r.status == 500 and json.loads(r.read())["error"]["code"] == "internal_error"
        conn.request("GET", "/api/health")
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["status"] == "ok"
        assert conn.sock.getsockname() == local  # the same TCP connection served all three
        conn.close()


def test_real_server_event_stream_is_not_buffered(services: Any) -> None:
    with (
        real_server(create_app(services.settings, services)) as (host, port),
        httpx.Client(base_url=f"http://{host}:{port}", timeout=10) as c,
        c.stream("GET", "/api/agent/events", headers=AGENT) as r,
    ):
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert (
            r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "no-referrer"
        )
        started = time.monotonic()
        lines = r.iter_lines()
        seen = [next(lines) for _ in range(2)]  # the retry hint, then the first queue event: not held back
        assert seen[0].startswith("retry:") and time.monotonic() - started < 5
