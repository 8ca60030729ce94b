"""PostgreSQL unreachable: answer 503 at once, with Retry-After, instead of a 500 or a hang.

    pool_options(settings)        ConnectionPool / AsyncConnectionPool keyword arguments:
                                  timeout   wait at most SHOUWEN_DB_POOL_TIMEOUT (3 s) for a
                                            connection (psycopg_pool's default is 30 s: the
                                            27-second hangs of an outage)
                                  check     a connection is checked when taken from the pool,
                                            so one a restarted server dropped is replaced, not
                                            handed to a request; unless it came back to the
                                            pool healthy less than CHECK_IDLE (1 s) ago: under
                                            load that check was a round trip a request (about
                                            a tenth of intake's CPU a staff action), and a
                                            connection that breaks while in use is discarded
                                            when it comes back (psycopg_pool)
                                  connect_timeout   SHOUWEN_DB_CONNECT_TIMEOUT (2 s)
    add_outage_handlers(app)      psycopg OperationalError / InterfaceError (AdminShutdown,
                                  connection refused, ...) and PoolTimeout ─▶ 503
                                  problem+json, Retry-After: SHOUWEN_DB_RETRY_AFTER (5 s);
                                  the request's transaction was rolled back: nothing half-written
    database_ready(pool)          for /readyz: can a connection answer SELECT 1 right now?

The body is the services' RFC 9457 problem document (services/common/problems.problem).
"""

from __future__ import annotations

import logging
import time
import weakref
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import Response
from psycopg.pq import ConnStatus, TransactionStatus
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from services.common.problems import problem
from services.common.settings import Settings

log = logging.getLogger(__name__)

UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)


CHECK_IDLE = 1.0  # seconds back in the pool after which a connection is checked again


def pool_options(settings: Settings, *, asynchronous: bool = False,
                 **kwargs: Any) -> dict[str, Any]:
    back: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    def recent(conn: Any) -> bool:
        at = back.get(conn)
        return (at is not None and time.monotonic() - at < CHECK_IDLE
                and conn.pgconn.status == ConnStatus.OK
                and conn.pgconn.transaction_status == TransactionStatus.IDLE)

    def returned(conn: Any) -> None:
        back[conn] = time.monotonic()

    if asynchronous:
        async def acheck(conn: psycopg.AsyncConnection[Any]) -> None:
            if not recent(conn):
                await AsyncConnectionPool.check_connection(conn)

        async def areset(conn: psycopg.AsyncConnection[Any]) -> None:
            returned(conn)

        hooks: dict[str, Any] = {"check": acheck, "reset": areset}
    else:
        def check(conn: psycopg.Connection) -> None:
            if not recent(conn):
                ConnectionPool.check_connection(conn)

        hooks = {"check": check, "reset": returned}
    return {"timeout": settings.db_pool_timeout, **hooks,
            "kwargs": {"connect_timeout": settings.db_connect_timeout, **kwargs}}


def unavailable(settings: Settings) -> Response:
    return problem(503, "the database is unavailable; nothing was written, try again shortly",
                   headers={"Retry-After": str(settings.db_retry_after)})


def add_outage_handlers(app: FastAPI, settings: Settings) -> None:
    """After ``harden`` (services/common/guard.py): these, by their exception types, come
    before its catch-all 500."""

    def handler(request: Request, exc: Exception) -> Response:
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
