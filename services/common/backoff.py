"""The one retry schedule of every loop that waits out a failure (consumers, the notification
sender, the relay, ``shouwen up``'s restarts, database connects, delivery retries).

    Backoff(attempts, first_delay, max_delay, jitter)
        .delay(attempt)          first_delay * 2**(attempt-1), at most max_delay, then
                                 spread by ±jitter (a share) so replicas do not retry in step
        .run(fn, what=, transient=, stop=)
                                 call fn until it does not raise a transient error: a warning
                                 per try, an error line from ``attempts`` on; only ``stop``
                                 ends it (Stopped). A message is never skipped for this.
    Failures(backoff)            a loop's consecutive failures: ``next()`` is the delay before
                                 the next try, ``reset()`` after a success
    TRANSIENT_DB                 psycopg OperationalError / InterfaceError: the database is
                                 away, not the work's fault
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import psycopg

log = logging.getLogger(__name__)

T = TypeVar("T")
TRANSIENT_DB: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg.InterfaceError)


class Stopped(Exception):
    """Asked to stop while waiting out a transient failure; the message was not finished."""


@dataclass(frozen=True)
class Backoff:
    """Retry transient failures: ``attempts`` tries with growing delays, then keep trying
    at ``max_delay`` with an error line per try. Only ``stop`` ends it (raising Stopped)."""

    attempts: int = 5
    first_delay: float = 0.2
    max_delay: float = 5.0
    jitter: float = 0.0  # a share: 0.2 spreads each delay over 0.8..1.2 of it

    def delay(self, attempt: int) -> float:
        delay = float(min(self.max_delay, self.first_delay * 2 ** (max(1, attempt) - 1)))
        return delay * random.uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else delay

    def run(
        self,
        fn: Callable[[], T],
        *,
        what: str,
        transient: tuple[type[Exception], ...] = TRANSIENT_DB,
        stop: threading.Event | None = None,
    ) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except transient as exc:
                level = logging.ERROR if attempt >= self.attempts else logging.WARNING
                log.log(level, "%s failed (attempt %d, %s: %s); retrying — a message is never "
                        "skipped for this", what, attempt, type(exc).__name__, exc)
                if _wait(stop, self.delay(attempt)):
                    raise Stopped(what) from exc


@dataclass
class Failures:
    """A loop's consecutive failures and the delay before its next try."""

    backoff: Backoff
    count: int = 0

    def next(self) -> float:
        self.count += 1
        return self.backoff.delay(self.count)

    def reset(self) -> None:
        self.count = 0


def _wait(stop: threading.Event | None, seconds: float) -> bool:
    if stop is None:
        time.sleep(seconds)
        return False
    return stop.wait(seconds)
