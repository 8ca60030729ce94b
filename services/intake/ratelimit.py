"""A per-client sliding-window rate limit for the public (no login) endpoints, shared by
every intake replica, and the per-receipt lockout after wrong access codes.

    SharedLimiter(pool, limit, window=60)   the hits in PostgreSQL (public_hits): every
        .acquire(key) -> 0.0 | seconds       replica counts against the same log
    SlidingWindowLimiter(limit, window=60)  the same in process memory (kept for tools)
    rate_limited(scope)       a FastAPI dependency: 429 with Retry-After when refused
    client_address(request)   the peer's address; X-Forwarded-For is believed only when the
                              peer is a configured proxy (SHOUWEN_TRUSTED_PROXIES, IPs or
                              CIDRs), taking the rightmost address that is not a proxy
    Lockout: locked_for(conn, receipt) / wrong_code(pool, receipt, settings) / right_code
        (each also ``_async`` on an asyncio connection: the public writes)
        after SHOUWEN_ACCESS_CODE_ATTEMPTS wrong codes for one receipt number (existing or
        not, so it says nothing about which exist) it is locked for
        SHOUWEN_ACCESS_CODE_LOCKOUT_SECONDS: 429 with Retry-After, even with the right code

The key is the scope plus the client's address. Each app builds its limiter on first use
from ``settings.public_rate_limit_per_minute`` (0 turns the limit off).
"""

from __future__ import annotations

import ipaddress
import math
import random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from fastapi import HTTPException, Request, status
from psycopg_pool import AsyncConnectionPool, ConnectionPool
from starlette.concurrency import run_in_threadpool

from services.web.deps import Wiring

MAX_KEYS = 100_000  # beyond this many clients, forget those idle for a whole window


class SlidingWindowLimiter:
    """At most ``limit`` requests per key within any ``window`` seconds (a sliding log)."""

    def __init__(self, limit: int, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        if self.limit <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= MAX_KEYS:
                    self._forget_idle(now)
                hits = self._hits[key] = deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(hits[0] + self.window - now, 0.001)
            hits.append(now)
            return 0.0

    def _forget_idle(self, now: float) -> None:
        idle = [k for k, h in self._hits.items() if not h or h[-1] <= now - self.window]
        for k in idle:
            del self._hits[k]


class SharedLimiter:
    """The sliding log in PostgreSQL: one transaction per request, serialised per key by
    an advisory lock, so N replicas together allow ``limit`` per window, not N times it."""

    def __init__(self, pool: ConnectionPool, limit: int, window: float = 60.0,
                 apool: AsyncConnectionPool | None = None) -> None:
        self.pool, self.limit, self.window, self.apool = pool, limit, window, apool

    def acquire(self, key: str) -> float:
        if self.limit <= 0:
            return 0.0
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(_LOCK, (key,))
            conn.execute(_FORGET, (key, self.window))
            row = conn.execute(_COUNT, (self.window, key)).fetchone()
            assert row is not None
            if row[0] >= self.limit:
                return max(float(row[1] or 0.0), 0.001)
            conn.execute(_HIT, (key,))
            if random.random() < 0.01:  # keys that went quiet: swept now and then
                conn.execute(_SWEEP, (self.window,))
        return 0.0

    async def acquire_async(self, key: str) -> float:
        """``acquire`` on the asyncio pool (the same statements, in one transaction)."""
        if self.limit <= 0:
            return 0.0
        assert self.apool is not None
        # pipelined: BEGIN, the lock, the sweep of the key and the count in one round
        # trip, the hit and COMMIT in a second (six round trips otherwise)
        async with self.apool.connection() as conn, conn.pipeline(), conn.transaction():
            await conn.execute(_LOCK, (key,))
            await conn.execute(_FORGET, (key, self.window))
            row = await (await conn.execute(_COUNT, (self.window, key))).fetchone()
            assert row is not None
            if row[0] >= self.limit:
                return max(float(row[1] or 0.0), 0.001)
            await conn.execute(_HIT, (key,))
            if random.random() < 0.01:
                await conn.execute(_SWEEP, (self.window,))
        return 0.0


_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 18))"
_FORGET = ("DELETE FROM public_hits WHERE key = %s AND at <= clock_timestamp()"
           " - make_interval(secs => %s)")
_COUNT = ("SELECT count(*), extract(epoch FROM min(at) + make_interval(secs => %s)"
          " - clock_timestamp()) FROM public_hits WHERE key = %s")
_HIT = "INSERT INTO public_hits (key) VALUES (%s)"
_SWEEP = "DELETE FROM public_hits WHERE at <= clock_timestamp() - make_interval(secs => %s)"


class RateLimited(HTTPException):
    def __init__(self, retry_after: float, why: str = "too many requests from this address"
                 ) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"{why}; try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


_create_lock = threading.Lock()


def limiter_of(request: Request) -> SharedLimiter:
    """The app's limiter, built on first use from its settings."""
    state = request.app.state
    limiter: SharedLimiter | None = getattr(state, "public_limiter", None)
    if limiter is None:
        with _create_lock:
            limiter = getattr(state, "public_limiter", None)
            if limiter is None:
                w: Wiring = state.wiring
                limiter = SharedLimiter(w.pool, w.settings.public_rate_limit_per_minute,
                                        apool=w.apool)
                state.public_limiter = limiter
    return limiter


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(spec: str) -> list[Network]:
    """SHOUWEN_TRUSTED_PROXIES: comma-separated addresses or CIDRs; ValueError if bad."""
    return [ipaddress.ip_network(p.strip(), strict=False) for p in spec.split(",") if p.strip()]


def _in(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in n for n in networks)


def client_address(request: Request) -> str:
    peer = request.client.host if request.client else "unknown"
    w: Wiring = request.app.state.wiring
    networks = trusted_networks(w.settings.trusted_proxies)
    if not networks or not _in(peer, networks):
        return peer  # a header from anyone else proves nothing
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _in(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # a garbled hop: the proxy itself is the last we can believe
    return peer


# -- the per-receipt lockout -------------------------------------------------------------
_LOCKED = ("SELECT extract(epoch FROM locked_until - now()) FROM receipt_lockouts"
           " WHERE receipt_number = %s AND locked_until > now()")
_WRONG = ("INSERT INTO receipt_lockouts AS r (receipt_number, failures) VALUES (%(r)s, 1)"
          " ON CONFLICT (receipt_number) DO UPDATE SET"
          " failures = CASE WHEN r.failures + 1 >= %(n)s THEN 0 ELSE r.failures + 1 END,"
          " locked_until = CASE WHEN r.failures + 1 >= %(n)s"
          "   THEN now() + make_interval(secs => %(s)s) ELSE r.locked_until END,"
          " updated_at = now()")
_RIGHT = ("DELETE FROM receipt_lockouts WHERE receipt_number = %s AND (locked_until IS"
          " NULL OR locked_until <= now())")


def locked_for(conn: psycopg.Connection, receipt: str) -> float:
    row = conn.execute(_LOCKED, (receipt,)).fetchone()
    return float(row[0]) if row else 0.0


async def locked_for_async(conn: psycopg.AsyncConnection[Any], receipt: str) -> float:
    row = await (await conn.execute(_LOCKED, (receipt,))).fetchone()
    return float(row[0]) if row else 0.0


def wrong_code(pool: ConnectionPool, receipt: str, attempts: int, lockout: int) -> None:
    """Counted on a connection of its own: the request's transaction is rolled back."""
    if attempts <= 0:
        return
    with pool.connection() as conn:
        conn.execute(_WRONG, {"r": receipt, "n": attempts, "s": lockout})


async def wrong_code_async(conn: psycopg.AsyncConnection[Any], receipt: str, attempts: int,
                           lockout: int) -> None:
    """``wrong_code`` on an autocommit connection (the statement commits on its own)."""
    if attempts > 0:
        await conn.execute(_WRONG, {"r": receipt, "n": attempts, "s": lockout})


def right_code(conn: psycopg.Connection, receipt: str) -> None:
    conn.execute(_RIGHT, (receipt,))


async def right_code_async(conn: psycopg.AsyncConnection[Any], receipt: str) -> None:
    await conn.execute(_RIGHT, (receipt,))


def rate_limited(scope: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency counting the request against ``scope`` for the client's address (on
    the app's asyncio pool when it has one: no thread hand-off)."""

    async def check(request: Request) -> None:
        limiter = limiter_of(request)
        key = f"{scope}|{client_address(request)}"
        if limiter.apool is not None:
            wait = await limiter.acquire_async(key)
        else:
            wait = await run_in_threadpool(limiter.acquire, key)
        if wait:
            raise RateLimited(wait)

    return check
