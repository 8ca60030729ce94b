"""The operations routes every HTTP service shares: /healthz (alive), /readyz (the database
answers, every migration this image ships is applied, and a directory is in force) and
/metrics (Prometheus). ``app.state.wiring`` must have ``pool`` (a psycopg ConnectionPool)
and ``directory`` (a DirectoryCache)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common.db import pending_migrations


def add_health_routes(app: FastAPI) -> None:
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        w = request.app.state.wiring
        with w.pool.connection() as conn:
            conn.execute("SELECT 1")
            pending = pending_migrations(conn)  # this image's schema, not just any database
        ready = w.directory.get() is not None and not pending
        return JSONResponse({"database": "ok",
                             "schema": f"{len(pending)} migration(s) pending" if pending
                             else "current",
                             "directory": "loaded" if w.directory.get() is not None
                             else "missing"},
                            status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)
