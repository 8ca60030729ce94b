"""The operations routes every HTTP service shares: /healthz (alive), /readyz (the database
answers within the pool timeout, every migration this image ships is applied, and a
directory is in force; 503 otherwise) and /metrics (Prometheus). ``app.state.wiring`` must
have ``settings``, ``pool`` (a psycopg ConnectionPool) and ``directory`` (a DirectoryCache)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common.db import pending_migrations
from services.common.outage import database_ready


def add_health_routes(app: FastAPI) -> None:
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        """503 while the database does not answer (within the pool timeout), so a load
        balancer drains this replica; while a migration this image ships is pending; and
        while no directory is in force."""
        w = request.app.state.wiring
        if not database_ready(w.pool, w.settings.db_pool_timeout):
            return JSONResponse({"database": "unreachable"}, status_code=503,
                                headers={"Retry-After": str(w.settings.db_retry_after)})
        with w.pool.connection(timeout=w.settings.db_pool_timeout) as conn:
            pending = pending_migrations(conn)  # this image's schema, not just any database
        loaded = w.directory.get() is not None
        ready = loaded and not pending
        return JSONResponse({"database": "ok",
                             "schema": f"{len(pending)} migration(s) pending" if pending
                             else "current",
                             "directory": "loaded" if loaded else "missing"},
                            status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)
