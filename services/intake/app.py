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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from services.cases.repository import CaseNotFound, CaseRepository
from services.common.eventstore import WrongExpectedVersion
from services.common.guard import harden
from services.common.health import add_health_routes
from services.common.metrics import instrument_http
from services.common.openapi import operation_id, tidy
from services.common.outage import add_outage_handlers, pool_options
from services.common.problems import problem
from services.common.settings import Settings
from services.directory.index import DirectoryCache
from services.domain.case import ActionNotAllowed
from services.web.deps import Wiring

ROUTERS = ("cases", "public", "open311", "console",
           "console_register", "console_mine", "console_case", "console_leader",
           "accountability", "accountability_console",
           "console_inbox", "personal")


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert settings.database_url, "DATABASE_URL is required"
        pool = ConnectionPool(settings.database_url, min_size=2, max_size=16, open=True,
                              **pool_options(settings))
        apool = AsyncConnectionPool(settings.database_url, min_size=2, max_size=16, open=False,
                                    **pool_options(settings, asynchronous=True,
                                                   autocommit=True))
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
    for name in ROUTERS:
        try:
            module = importlib.import_module(f"services.intake.routes.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"services.intake.routes.{name}":
                raise
            continue
        app.include_router(module.router)
    _install_error_handlers(app)
    harden(app, settings)  # problem documents, and the input guard in front of every route
    tidy(app)  # component names without module paths (after harden's document)
    add_outage_handlers(app, settings)  # the database away: 503 + Retry-After, at once
    instrument_http(app, "intake")

    add_health_routes(app)

    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ActionNotAllowed)
    def not_allowed(request: Request, exc: ActionNotAllowed) -> Response:
        return problem(409, str(exc), action=exc.action, case_status=exc.state.status.value,
                       version=exc.state.version)

    @app.exception_handler(WrongExpectedVersion)
    def conflict(request: Request, exc: WrongExpectedVersion) -> Response:
        return problem(409, "the case changed meanwhile; reload it and try again",
                       expected_version=exc.expected, actual_version=exc.actual)

    @app.exception_handler(CaseNotFound)
    def not_found(request: Request, exc: CaseNotFound) -> Response:
        return problem(404, "case not found")
