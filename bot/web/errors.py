"""One error shape for every failure: ``{"error": {"code", "message", "details"}}``. No tracebacks.

A 500 makes no claim about what was or was not saved; it gives the request id (also logged with the
traceback, and sent as ``X-Request-ID``) for support to find it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.content.editorial import ClusterGone, EntryExists, NotPublished
from bot.flow.chat import InvalidChoice
from escalation.errors import HandoffAlreadyClaimed, InvalidTransition, NotFound
from escalation.identity import InvalidIdentity
from escalation.ratelimit import RateLimited

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
        429: "Too many requests (see Retry-After)",
        401: "Not signed in",
        403: "Not allowed for this credential",
        404: "Not found",
        409: "Conflict",
        413: "Request body too large",
        422: "Invalid request",
        500: "Unexpected error on the desk's side (with a request id for support)",
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


json_error = _json  # for the middleware, which answers before any route or exception handler


def internal_error(request_id: str, exc: BaseException, where: str = "") -> JSONResponse:
    """The 500 of an unexpected exception: logged with its traceback and the request id, answered
    with the id only."""
    log.error("unhandled error in %s (request id %s)", where or "a request", request_id, exc_info=exc)
    return _json(
        500,
        "internal_error",
        "Something went wrong on our side. Try again; if it keeps happening, contact support with this "
        f"id: {request_id}",
        [{"request_id": request_id}],
    )


# FastAPI answers 400 with this when json.loads fails otherwise than with a JSONDecodeError (which is
# a 422); made a 422 like it: the OpenAPI documents one status for a malformed body
UNPARSABLE_BODY = "There was an error parsing the body"
_UNPARSABLE: dict[type, str] = {
    UnicodeDecodeError: "it is not UTF-8 text",
    RecursionError: "it is nested too deeply",
}

STATUS = {
    NotFound: 404, HandoffAlreadyClaimed: 409, InvalidTransition: 409, InvalidChoice: 422,
    EntryExists: 409, ClusterGone: 409, NotPublished: 409,
}


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
        if exc.status_code == 400 and exc.detail == UNPARSABLE_BODY:  # FastAPI's: json.loads refused the body
            problem = "the body is not JSON: " + _UNPARSABLE.get(type(exc.__cause__), "it cannot be parsed")
            details = [{"field": "", "problem": problem}]
            return _json(422, "invalid_request", f"The request is not valid: body: {problem}", details)
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 413: "body_too_large"}.get(
            exc.status_code, "http_error"
        )
        return _json(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))  # e.g. Allow

    @app.exception_handler(RateLimited)
    async def rate_limited(_: Request, exc: RateLimited) -> JSONResponse:
        return _json(
            429,
            "rate_limited",
            f"Too many requests; try again in {exc.retry_after} s."
            + (" Your message was saved; send it again with the same client_message_id." if exc.stored_message_id else ""),
            [
                {"limit": exc.limit.name, "retry_after": exc.retry_after}
                | ({"customer_message_id": exc.stored_message_id} if exc.stored_message_id else {})
            ],
            {"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(InvalidIdentity)
    async def invalid_identity(_: Request, exc: InvalidIdentity) -> JSONResponse:
        return _json(401, "invalid_identity", str(exc), headers={"WWW-Authenticate": 'Bearer realm="customer"'})

    for exc_type, status in STATUS.items():

        async def known(_: Request, exc: Exception, status: int = status) -> JSONResponse:
            return _json(status, getattr(exc, "code", "invalid_choice"), str(exc))

        app.add_exception_handler(exc_type, known)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        """Last resort (Starlette's outermost middleware); bot.web.middleware answers first."""
        rid = getattr(request.state, "request_id", None) or uuid.uuid4().hex
        return internal_error(rid, exc, f"{request.method} {request.url.path}")
