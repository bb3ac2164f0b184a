"""The app factory: ``create_app(settings)``; nothing is built at import.

The OpenAPI it publishes matches what the app does: every error, the 422 included, is the one error
shape (``ErrorOut``); every operation documents 413 (body too large), 429 (rate limited, with
``Retry-After``) and 500, and every write 403 (``bad_origin``: a cross-site write with the console's
cookie). See ``bot.web.middleware`` for the middleware behind them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from bot import logs
from bot.services import Services, build_services
from bot.settings import Settings
from bot.web import errors
from bot.web.middleware import WRITE_METHODS, GuardMiddleware, SecurityHeadersMiddleware
from bot.web.routes import agent, chat, console, content, events, health, incidents


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        svc = services or build_services(settings)
        logs.install()  # uvicorn has set up its handlers by now: nothing personal reaches a log
        svc.runtime.start_watching(settings.watch_interval)
        svc.start_housekeeping()
        svc.start_channels()
        app.state.services = svc
        try:
            yield
        finally:
            if owned:
                svc.close()
            else:
                svc.stop_background()

    app = FastAPI(
        title="invoice-helpdesk",
        version="0.1.0",
        description="24/7 support desk of the invoice app: curated FAQ answers, calibrated hand-off to people.",
        lifespan=lifespan,
    )
    # the last added runs first: headers outermost, CORS around the guard's refusals (so they are readable)
    app.add_middleware(GuardMiddleware, settings=settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Authorization"],
            expose_headers=["Retry-After", "X-Request-ID"],
        )
    app.add_middleware(
        SecurityHeadersMiddleware,
        settings=settings,
        docs_paths=(app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url),
    )
    errors.install(app)
    app.include_router(chat.router)
    app.include_router(agent.router)
    app.include_router(content.router)
    app.include_router(incidents.router)
    app.include_router(health.router)
    app.include_router(events.router)
    app.include_router(console.router)
    _publish_errors_in_openapi(app)
    return app


_ERROR_REF = "#/components/schemas/ErrorOut"
_FASTAPI_422 = ("HTTPValidationError", "ValidationError")


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _ERROR_REF}}},
        **extra,
    }


GLOBAL_ERRORS: dict[str, dict[str, Any]] = {
    "413": _error("Request body too large (`body_too_large`; the limit is the `max_body_bytes` setting)"),
    "429": _error(
        "Too many requests (`rate_limited`)",
        headers={
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "integer"},
            }
        },
    ),
    "500": _error("Unexpected error on the desk's side (`internal_error`, with a request id for support)"),
}
BAD_ORIGIN = (
    "`bad_origin`: a write carrying the console's session cookie without an `Authorization` header came "
    "from another site (Origin/Referer missing or not the desk's)"
)


def harden_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Make the generated OpenAPI say what the app does (see the module docstring); in place."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "ErrorOut" not in components:
        generated = errors.ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(generated.pop("$defs", {}))
        components["ErrorOut"] = generated
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            answers: dict[str, Any] = operation["responses"]
            if "422" in answers:
                answers["422"] = _error(answers["422"].get("description") or "Invalid request")
            for status, entry in GLOBAL_ERRORS.items():
                answers.setdefault(status, entry)
                for key, value in entry.items():  # a route's own entry keeps its text, gains the headers
                    answers[status].setdefault(key, value)
            if method.upper() in WRITE_METHODS:
                known = answers.get("403", {}).get("description")
                answers["403"] = _error(
                    f"{known}; or {BAD_ORIGIN}" if known else BAD_ORIGIN[0].upper() + BAD_ORIGIN[1:]
                )
    for name in _FASTAPI_422:  # HTTPValidationError first: it is what refers to ValidationError
        if f'"#/components/schemas/{name}"' not in json.dumps(schema):
            components.pop(name, None)
    return schema


def _publish_errors_in_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = harden_schema(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
