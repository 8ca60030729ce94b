"""PostgreSQL unreachable: answer 503 at once, with Retry-After, instead of a 500 or a hang.

    pool_options(settings)        ConnectionPool / AsyncConnectionPool keyword arguments:
                                  timeout   wait at most SHOUWEN_DB_POOL_TIMEOUT (3 s) for a
                                            connection (psycopg_pool's default is 30 s: the
                                            27-second hangs of an outage)
                                  check     a connection is checked when taken from the pool,
                                            so one a restarted server dropped is replaced, not
                                            handed to a request
                                  connect_timeout   SHOUWEN_DB_CONNECT_TIMEOUT (2 s)
    add_outage_handlers(app)      psycopg OperationalError / InterfaceError (AdminShutdown,
                                  connection refused, ...) and PoolTimeout ─▶ 503
                                  problem+json, Retry-After: SHOUWEN_DB_RETRY_AFTER (5 s);
                                  the request's transaction was rolled back: nothing half-written
    database_ready(pool)          for /readyz: can a connection answer SELECT 1 right now?

The body is an RFC 9457 problem document (type, title, status, and the ``detail`` every
problem of these services carries: services/common/problems.Problem).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from services.common.settings import Settings

log = logging.getLogger(__name__)

UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)


def pool_options(settings: Settings, *, asynchronous: bool = False,
                 **kwargs: Any) -> dict[str, Any]:
    check = AsyncConnectionPool.check_connection if asynchronous else \
        ConnectionPool.check_connection
    return {"timeout": settings.db_pool_timeout, "check": check,
            "kwargs": {"connect_timeout": settings.db_connect_timeout, **kwargs}}


def unavailable(settings: Settings) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": "Service Unavailable", "status": 503,
         "detail": "the database is unavailable; nothing was written, try again shortly"},
        status_code=503, headers={"Retry-After": str(settings.db_retry_after)},
        media_type="application/problem+json")


def add_outage_handlers(app: FastAPI, settings: Settings) -> None:
    def handler(request: Request, exc: Exception) -> JSONResponse:
        log.warning("%s %s: the database is unavailable (%s); answered 503", request.method,
                    request.url.path, type(exc).__name__)
        return unavailable(settings)

    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, handler)


def database_ready(pool: ConnectionPool, timeout: float) -> bool:
    try:
        with pool.connection(timeout=timeout) as conn:
            conn.execute("SELECT 1")
        return True
    except UNAVAILABLE:
        return False
