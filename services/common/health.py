"""The operations routes every HTTP service shares: /healthz (alive), /readyz (the database
answers and a directory is in force) and /metrics (Prometheus). ``app.state.wiring`` must
have ``pool`` (a psycopg ConnectionPool) and ``directory`` (a DirectoryCache)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def add_health_routes(app: FastAPI) -> None:
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        w = request.app.state.wiring
        with w.pool.connection() as conn:
            conn.execute("SELECT 1")
        ready = w.directory.get() is not None
        return JSONResponse({"database": "ok", "directory": "loaded" if ready else "missing"},
                            status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)
