"""Console sign-in (cookie session) and the pages: demo invoice app, widget script, agent console."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from bot.web.deps import SESSION_COOKIE, AgentUser, ServicesDep
from bot.web.errors import ApiError
from bot.web.vocabulary import render_script
from escalation.accounts import SESSION_HOURS, InvalidCredentials

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(tags=["console"])


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(..., min_length=1, max_length=64)
    password: str = Field(..., min_length=1, max_length=256)


@router.post("/api/console/login")
def login(body: LoginIn, request: Request, response: Response, services: ServicesDep) -> dict[str, str]:
    """Sign in to the agent console; sets an HttpOnly session cookie."""
    try:
        token = services.accounts.sign_in(body.username, body.password)
    except InvalidCredentials:
        raise ApiError(401, "invalid_credentials", "Wrong username or password.") from None
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return {"username": body.username}


@router.post("/api/console/logout")
def logout(request: Request, response: Response, services: ServicesDep) -> dict[str, bool]:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        services.accounts.sign_out(token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"ok": True}


@router.get("/api/console/me")
def me(user: AgentUser) -> dict[str, str | None]:
    """Who is signed in (401 when nobody)."""
    return {"username": user}


def _page(name: str, media_type: str) -> FileResponse:
    path = STATIC / name
    if not path.exists():
        raise ApiError(404, "not_found", f"{name} is not built")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})


@router.get("/", include_in_schema=False)
def demo_page() -> FileResponse:
    return _page("demo.html", "text/html; charset=utf-8")


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
