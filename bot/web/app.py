"""The app factory: ``create_app(settings)``; nothing is built at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from bot.services import Services, build_services
from bot.settings import Settings
from bot.web import errors
from bot.web.routes import agent, chat, console, events, health


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        svc = services or build_services(settings)
        svc.runtime.start_watching(settings.watch_interval)
        app.state.services = svc
        try:
            yield
        finally:
            if owned:
                svc.close()
            else:
                svc.runtime.stop()

    app = FastAPI(
        title="invoice-helpdesk",
        version="0.1.0",
        description="24/7 support desk of the invoice app: curated FAQ answers, calibrated hand-off to people.",
        lifespan=lifespan,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Authorization"],
        )
    errors.install(app)
    app.include_router(chat.router)
    app.include_router(agent.router)
    app.include_router(health.router)
    app.include_router(events.router)
    app.include_router(console.router)
    return app
