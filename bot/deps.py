"""All dependency aliases of the routes, in one place."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.errors import ApiError
from bot.services import Services

_bearer = HTTPBearer(auto_error=False)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def require_agent(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    if credentials is None or not secrets.compare_digest(credentials.credentials, services.agent_token):
        raise ApiError(401, "unauthorized", "Agent API: send `Authorization: Bearer <agent token>`.")


AgentAuth = Depends(require_agent)
