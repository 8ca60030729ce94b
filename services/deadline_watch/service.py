"""deadline-watch as a process: the consumer, the timer loop, metrics, and the rebuild.

    build(settings)  DeadlineWatch over a small pool: the unit's policy (deadline_policies)
                     and calendar (services.calendar, cached), the directory for the ladder
    run(settings)    faust app "deadline-watch": batch_agent(case events ─▶ watch.handle_batch,
                     up to SHOUWEN_DEADLINE_CONSUME_BATCH_SIZE in one transaction; 1: the
                     one-message inbox_agent ─▶ watch.handle)
                     + a thread: tick() every tick_seconds (at once again while it is busy)
                     + Prometheus metrics on SHOUWEN_DEADLINE_METRICS_PORT (9103)
    rebuild(url)     every case's timers and announcements recomputed from its stream
                     (case_index lists every case), one transaction per case

Stopping anywhere is safe: a tick is one transaction, and an un-acked message comes back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, start_http_server
from psycopg_pool import ConnectionPool
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.calendar.cache import CalendarCache
from services.calendar.policy import PolicyBook, UnitPolicy
from services.calendar.policy_store import policy_book
from services.cases.index import case_ids_after
from services.cases.repository import CaseRepository
from services.common.settings import Settings
from services.deadline_watch.calendar_port import Calendar
from services.deadline_watch.metrics import DeadlineMetrics, deadline_metrics
from services.deadline_watch.store import open_timers
from services.deadline_watch.watch import CONSUMER, READS, DeadlineWatch, RulesOf, utc_now
from services.directory.index import DirectoryCache

log = logging.getLogger(__name__)
BATCH_WAIT = 0.05  # seconds a case event may wait for its batch to fill (as routing)
COUNT_EVERY = 15.0  # seconds between counts of the open timers (a scan of the index)


class DeadlineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOUWEN_DEADLINE_", env_file=".env",
                                      extra="ignore")

    metrics_port: int = 9103
    tick_seconds: float = Field(default=0.1, gt=0)  # an idle tick costs ~0.2 ms
    batch_size: int = Field(default=500, ge=1)  # timers a tick claims
    consume_batch_size: int = Field(default=1000, ge=1)  # case events a transaction handles
    policy_refresh_seconds: float = Field(default=30.0, gt=0)


class PolicyCache:
    def __init__(self, ttl: float) -> None:
        self.ttl, self._book, self._at = ttl, PolicyBook(), float("-inf")

    def get(self, conn: psycopg.Connection) -> PolicyBook:
        if time.monotonic() - self._at > self.ttl:
            self._book, self._at = policy_book(conn), time.monotonic()
        return self._book


def rules_of(calendars: CalendarCache, policies: PolicyCache) -> RulesOf:
    def of(conn: psycopg.Connection, unit_id: str | None) -> tuple[UnitPolicy, Calendar]:
        return policies.get(conn).for_unit(unit_id), calendars.get(conn).for_unit(unit_id)
    return of


def build(database_url: str, *, now: Callable[[], datetime] = utc_now,
          metrics: DeadlineMetrics | None = None, ds: DeadlineSettings | None = None,
          ) -> tuple[DeadlineWatch, ConnectionPool]:
    ds = ds or DeadlineSettings()
    pool = ConnectionPool(database_url, min_size=1, max_size=3, open=True,
                          kwargs={"autocommit": True,
                                  "application_name": f"shouwen-{CONSUMER}-loop"})
    directory = DirectoryCache(pool)
    watch = DeadlineWatch(CaseRepository(pool),
                          rules_of(CalendarCache(), PolicyCache(ds.policy_refresh_seconds)),
                          directory.get, metrics=metrics, now=now, batch_size=ds.batch_size)
    return watch, pool


def loop(watch: DeadlineWatch, stop: threading.Event, interval: float) -> None:
    """Tick until ``stop``; a failed tick is rolled back and tried again a moment later."""
    counted = float("-inf")
    while not stop.is_set():
        try:
            settled = watch.tick()
            if watch.metrics is not None and time.monotonic() - counted > COUNT_EVERY:
                with watch.repo.pool.connection() as conn:
                    watch.metrics.open_timers.set(open_timers(conn))
                counted = time.monotonic()
        except Exception:
            log.exception("deadline-watch: a tick failed; trying again")
            stop.wait(1.0)
            continue
        if settled < watch.batch_size:
            stop.wait(interval)


def run(settings: Settings, ds: DeadlineSettings | None = None) -> None:
    from services.common.faust_base import inbox_agent, make_app, run_worker
    from services.common.faust_batch import batch_agent

    ds = ds or DeadlineSettings()
    assert settings.database_url is not None
    registry = CollectorRegistry()
    watch, pool = build(settings.database_url, metrics=deadline_metrics(registry), ds=ds)
    app = make_app(settings, CONSUMER)
    if ds.consume_batch_size == 1:
        inbox_agent(app, settings, CONSUMER, watch.handle, reads=READS, registry=registry)
    else:
        batch_agent(app, settings, CONSUMER, watch.handle, watch.handle_batch,
                    max_size=ds.consume_batch_size, max_wait=BATCH_WAIT, reads=READS,
                    registry=registry)
    stop = threading.Event()
    ticker = threading.Thread(target=loop, args=(watch, stop, ds.tick_seconds),
                              name="deadline-loop", daemon=True)

    @app.on_before_shutdown.connect
    async def _stop(sender: Any, /, *_: Any, **__: Any) -> None:
        stop.set()

    start_http_server(ds.metrics_port, registry=registry)
    ticker.start()
    run_worker(app, loglevel=settings.log_level)
    stop.set()
    ticker.join(timeout=5)
    pool.close()


def rebuild(watch: DeadlineWatch, batch: int = 1000) -> int:
    """Recompute every case's timers from its stream; returns the number of cases."""
    done, after = 0, ""
    while True:
        with watch.repo.pool.connection() as conn:
            ids = case_ids_after(conn, after, batch)
        if not ids:
            return done
        for case_id in ids:
            with watch.repo.pool.connection() as conn, conn.transaction():
                watch.refresh(conn, case_id)
        done, after = done + len(ids), ids[-1]
