"""All dependency aliases of the routes, in one place."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.services import Services
from bot.web.errors import ApiError

SESSION_COOKIE = "helpdesk_session"
_bearer = HTTPBearer(auto_error=False)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def agent_identity(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    """Who calls: the owner of a personal API token or the signed-in console user; None for the
    desk-wide integration token (``HELPDESK_AGENT_TOKEN``; the body then names the agent)."""
    if credentials is not None:
        desk = services.settings.agent_token
        if desk and secrets.compare_digest(credentials.credentials, desk):
            return None
        owner = services.accounts.token_user(credentials.credentials)
        if owner is not None:
            return owner
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        user = services.accounts.user_of(cookie)
        if user is not None:
            return user
    raise ApiError(
        401, "unauthorized", "Agent API: sign in at /console or send `Authorization: Bearer <agent token>`."
    )


AgentUser = Annotated[str | None, Depends(agent_identity)]
AgentAuth = Depends(agent_identity)


def acting_agent(user: str | None, named: str | None) -> str:
    """Who acts: the token's owner or signed-in user; with the desk-wide token, the agent named in the body."""
    if user is not None:
        if named and named != user:
            raise ApiError(403, "forbidden", f"this credential acts as {user!r}, not {named!r}")
        return user
    if not named:
        raise ApiError(422, "invalid_request", "`agent` is required when using the API token")
    return named
