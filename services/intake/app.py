"""The intake application: ``create_app(settings)``; ``shouwen intake`` serves it.

    /healthz, /readyz          probes
    /metrics                   Prometheus
    /v1/cases...               staff: register an inquiry, act on a case   (routes/cases.py)
    /v1/public/...             citizens: status, rating, complaint         (routes/public.py)
    /open311/v2/...            Open311 GeoReport v2                        (routes/open311.py)
    /console/...               the staff console, server-rendered         (routes/console.py)
    /v1/accountability, /v1/evaluation, /console/accountability   (routes/accountability*.py)
"""

from __future__ import annotations

import importlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from services.cases.repository import CaseNotFound, CaseRepository
from services.common.eventstore import WrongExpectedVersion
from services.common.health import add_health_routes
from services.common.metrics import instrument_http
from services.common.openapi import operation_id, tidy
from services.common.settings import Settings
from services.directory.index import DirectoryCache
from services.domain.case import ActionNotAllowed
from services.web.deps import Wiring

ROUTERS = ("cases", "public", "open311", "console", "accountability", "accountability_console",
           "console_inbox")


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert settings.database_url, "DATABASE_URL is required"
        pool = ConnectionPool(settings.database_url, min_size=2, max_size=16, open=True)
        apool = AsyncConnectionPool(settings.database_url, min_size=2, max_size=16,
                                    kwargs={"autocommit": True}, open=False)
        await apool.open()
        app.state.wiring = Wiring(settings, pool, DirectoryCache(pool), CaseRepository(pool),
                                  apool=apool)
        try:
            yield
        finally:
            await apool.close()
            pool.close()

    app = FastAPI(title="Shouwen intake", version="1.0.0", lifespan=lifespan,
                  description="首问 first-inquiry intake: register inquiries and act on cases.",
                  generate_unique_id_function=operation_id)
    tidy(app)  # component names without module paths
    for name in ROUTERS:
        try:
            module = importlib.import_module(f"services.intake.routes.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"services.intake.routes.{name}":
                raise
            continue
        app.include_router(module.router)
    _install_error_handlers(app)
    instrument_http(app, "intake")

    add_health_routes(app)

    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError) -> Response:
        """FastAPI's own 422, except that a lone surrogate (JSON "\\ud800", refused by
        pydantic and echoed back as the error's input) cannot crash the UTF-8 encoder: it
        is escaped instead."""
        body = {"detail": jsonable_encoder(exc.errors())}
        try:
            return JSONResponse(body, status_code=422)
        except UnicodeEncodeError:
            return Response(json.dumps(body), status_code=422, media_type="application/json")

    @app.exception_handler(ActionNotAllowed)
    def not_allowed(request: Request, exc: ActionNotAllowed) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "action": exc.action, "status": exc.state.status.value,
             "version": exc.state.version},
            status_code=409,
        )

    @app.exception_handler(WrongExpectedVersion)
    def conflict(request: Request, exc: WrongExpectedVersion) -> JSONResponse:
        return JSONResponse(
            {"detail": "the case changed meanwhile; reload it and try again",
             "expected_version": exc.expected, "actual_version": exc.actual},
            status_code=409,
        )

    @app.exception_handler(CaseNotFound)
    def not_found(request: Request, exc: CaseNotFound) -> JSONResponse:
        return JSONResponse({"detail": "case not found"}, status_code=404)
