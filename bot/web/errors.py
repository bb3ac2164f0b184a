"""One error shape for every failure: ``{"error": {"code", "message", "details"}}``. No tracebacks."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.flow.chat import InvalidChoice
from escalation.errors import HandoffAlreadyClaimed, InvalidTransition, NotFound

log = logging.getLogger("helpdesk.errors")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or []


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: list[Any] = []


class ErrorOut(BaseModel):
    """The one error shape of every route."""

    error: ErrorDetail


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route returns, all in the one error shape."""
    text = {
        400: "Bad request",
        401: "Not signed in",
        403: "Not allowed for this credential",
        404: "Not found",
        409: "Conflict",
        422: "Invalid request",
    }
    return {s: {"model": ErrorOut, "description": text.get(s, "Error")} for s in statuses}


ERRORS_404 = responses(404)
ERRORS_422 = responses(422)


def body(code: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def _json(
    status: int,
    code: str,
    message: str,
    details: list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(body(code, message, details), status_code=status, headers=headers)


STATUS = {NotFound: 404, HandoffAlreadyClaimed: 409, InvalidTransition: 409, InvalidChoice: 422}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _json(exc.status, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "problem": e.get("msg", "")}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{d['field'] or 'body'}: {d['problem']}" for d in details)
        return _json(422, "invalid_request", f"The request is not valid: {summary}", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            exc.status_code, "http_error"
        )
        return _json(exc.status_code, code, str(exc.detail))

    for exc_type, status in STATUS.items():

        async def known(_: Request, exc: Exception, status: int = status) -> JSONResponse:
            return _json(status, getattr(exc, "code", "invalid_choice"), str(exc))

        app.add_exception_handler(exc_type, known)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return _json(500, "internal_error", "Something went wrong on our side; the message was saved.")
