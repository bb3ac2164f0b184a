"""Console sign-in (cookie session) and the pages: demo invoice app, widget script, agent console."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from bot.services import HashingBusy
from bot.web.deps import SESSION_COOKIE, AgentPerson, ServicesDep, client_ip
from bot.web.errors import ApiError, responses
from bot.web.middleware import cookie_secure
from bot.web.vocabulary import render_script
from escalation.accounts import SESSION_HOURS, InvalidCredentials

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(tags=["console"])


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(..., min_length=1, max_length=64)
    password: str = Field(..., min_length=1, max_length=256)


class MeOut(BaseModel):
    username: str
    display_name: str
    role: str


@router.post("/api/console/login", response_model=MeOut, responses=responses(401, 403, 422, 429))
async def login(body: LoginIn, request: Request, response: Response, services: ServicesDep) -> MeOut:
    """Sign in to the agent console; sets an HttpOnly session cookie.

    Throttled per address and per account (429 with Retry-After), and as slow for an unknown
    username as for a wrong password. The password hash runs on its own single thread, never on
    the threads that answer customers, so a flood of sign-ins cannot slow the chat."""
    ip, user = client_ip(request), body.username.lower()
    await run_in_threadpool(services.limit, "sign_in_ip", ip)
    # failed sign-ins lock an account from one address first, and from everywhere only after many:
    # someone guessing from their address cannot lock the agent out of the desk from the agent's own
    await run_in_threadpool(services.limit, "sign_in_account", f"{user}|{ip}", 0)
    await run_in_threadpool(services.limit, "sign_in_account_any", user, 0)
    try:
        token = await services.hashing.run(services.accounts.sign_in, body.username, body.password)
    except InvalidCredentials:
        await run_in_threadpool(services.record_failure, ("sign_in_account", f"{user}|{ip}"), ("sign_in_account_any", user))
        raise ApiError(401, "invalid_credentials", "Wrong username or password.") from None
    except HashingBusy:
        raise ApiError(429, "rate_limited", "Too many sign-ins at once; try again in a few seconds.") from None
    person = await run_in_threadpool(services.accounts.person, body.username)
    assert person is not None
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request, services.settings),
        path="/",
    )
    return MeOut(username=person.username, display_name=person.display_name, role=person.role)


@router.post("/api/console/logout")
def logout(request: Request, response: Response, services: ServicesDep) -> dict[str, bool]:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        services.accounts.sign_out(token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"ok": True}


@router.get("/api/console/me", response_model=MeOut, responses=responses(401, 429))
def me(person: AgentPerson) -> MeOut:
    """Who is signed in (401 when nobody)."""
    return MeOut(username=person.username, display_name=person.display_name, role=person.role)


def _page(name: str, media_type: str) -> FileResponse:
    path = STATIC / name
    if not path.exists():
        raise ApiError(404, "not_found", f"{name} is not built")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})


@router.get("/", include_in_schema=False)
def demo_page() -> FileResponse:
    return _page("demo.html", "text/html; charset=utf-8")


@router.get("/conversation", include_in_schema=False)
def conversation_page() -> FileResponse:
    """Where a "continue the conversation" link from an email lands (the widget, opened on it)."""
    return _page("conversation.html", "text/html; charset=utf-8")


@router.get("/metrics", include_in_schema=False)
def metrics_page() -> FileResponse:
    """Outcome metrics with charts (the console's session signs it in)."""
    return _page("metrics.html", "text/html; charset=utf-8")


@router.get("/content", include_in_schema=False)
def content_page() -> FileResponse:
    """The editors' page: content gaps, drafts, preview and publish (the console's session signs it in)."""
    return _page("content.html", "text/html; charset=utf-8")


@router.get("/content.js", include_in_schema=False)
def content_script() -> Response:
    return _script("content.js")


@router.get("/pagelang.js", include_in_schema=False)
def pagelang_script() -> Response:
    """The console pages' string table and language choice (metrics, content gaps)."""
    return _script("pagelang.js")


@router.get("/metrics.js", include_in_schema=False)
def metrics_script() -> FileResponse:
    return _page("metrics.js", "application/javascript; charset=utf-8")


def _script(name: str) -> Response:
    return Response(
        render_script(STATIC / name),
        media_type="application/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/widget.js", include_in_schema=False)
def widget_script() -> Response:
    return _script("widget.js")


@router.get("/console", include_in_schema=False)
def console_page() -> FileResponse:
    return _page("console.html", "text/html; charset=utf-8")


@router.get("/console.js", include_in_schema=False)
def console_script() -> Response:
    return _script("console.js")
