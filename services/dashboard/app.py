"""The leaders' dashboard as an app of its own (``shouwen dashboard serve``, and the tests);
services/apps.py mounts the same router in the ledger's app with
``services.dashboard.wiring.mount``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common.guard import harden
from services.common.metrics import instrument_http
from services.common.outage import add_outage_handlers
from services.common.settings import Settings
from services.dashboard.wiring import mount


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            wiring.close()

    app = FastAPI(title="Shouwen leaders' dashboard", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    wiring = mount(app, settings)
    harden(app, settings)  # problem documents, and the input guard in front of every route
    add_outage_handlers(app, settings)  # the database away: 503 + Retry-After, at once
    instrument_http(app, "dashboard")

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
