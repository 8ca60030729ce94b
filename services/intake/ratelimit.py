"""A per-client sliding-window rate limit for the public (no login) endpoints.

    SlidingWindowLimiter(limit, window=60)
        .acquire(key) -> 0.0       allowed; the request is counted
                      -> seconds   refused; a slot frees up after that many seconds
    rate_limited(scope)            a FastAPI dependency: 429 with Retry-After when refused

The key is the scope plus the client's address (``request.client.host``; run uvicorn with
``--proxy-headers`` behind a trusted proxy so that is the citizen's address, not the proxy's).
Each app keeps one limiter, built on first use from ``settings.public_rate_limit_per_minute``
(0 turns the limit off), so a test sets a low limit through Settings. It lives in process
memory: with several intake replicas each enforces the limit on its own.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from fastapi import HTTPException, Request, status

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


class RateLimited(HTTPException):
    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many requests from this address; try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


_create_lock = threading.Lock()


def limiter_of(request: Request) -> SlidingWindowLimiter:
    """The app's limiter, built on first use from its settings."""
    state = request.app.state
    limiter: SlidingWindowLimiter | None = getattr(state, "public_limiter", None)
    if limiter is None:
        with _create_lock:
            limiter = getattr(state, "public_limiter", None)
            if limiter is None:
                w: Wiring = state.wiring
                limiter = SlidingWindowLimiter(w.settings.public_rate_limit_per_minute)
                state.public_limiter = limiter
    return limiter


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def rate_limited(scope: str) -> Callable[[Request], None]:
    """A dependency counting the request against ``scope`` for the client's address."""

    def check(request: Request) -> None:
        wait = limiter_of(request).acquire(f"{scope}|{client_address(request)}")
        if wait:
            raise RateLimited(wait)

    return check
