"""The routing worker: a faust-streaming app consuming the case-events topic.

    build_app(settings, batch_size=1000)
      faust app "routing" (its consumer group; scale out by starting more)
        └─ batch_agent(settings.case_events_topic, consumer "routing", Router.handle_batch)
             up to batch_size messages, or what came within BATCH_WAIT, in ONE transaction:
             inbox rows + routing's decisions; a failing batch is redone message by message
        └─ batch_size 1: the faust base's inbox_agent, one transaction per message
      a small psycopg pool of its own for the directory cache (re-read every few seconds)
      Prometheus metrics (services.routing.metrics) on SHOUWEN_ROUTING_METRICS_PORT (9102;
      0: none), served once the app starts
    main()    ``python -m services.routing [--batch-size N]`` / ``shouwen routing``

Why batches: a transaction per message spends most of its time on the commit and the round
trips around it, and faust hands over messages one at a time; sharing the commit is what
lets one worker keep up with a city's peak (see bench/routing_bench.py).

Everything routing decides is in services.routing.rules; everything it touches in the
store goes through services.routing.router (CaseRepository.append).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import faust
from prometheus_client import CollectorRegistry
from psycopg_pool import ConnectionPool

from services.cases.repository import CaseRepository
from services.common.consumer import required
from services.common.faust_base import inbox_agent, make_app, run_worker
from services.common.faust_batch import batch_agent
from services.common.metrics import serve_metrics
from services.common.settings import Settings, get_settings
from services.directory.index import DirectoryCache, DirectoryIndex
from services.routing.learning import Learned, LearnedCache
from services.routing.metrics import RoutingMetrics, routing_metrics
from services.routing.retrieval import prepare
from services.routing.router import CONSUMER, READS, Router

BATCH_SIZE = 1000  # measured: a fifth more cases/s than 500 (bench/routing_bench.py)
BATCH_WAIT = 0.05  # seconds a message may wait for its batch to fill


def make_router(
    settings: Settings, metrics: RoutingMetrics | None = None
) -> tuple[Router, ConnectionPool]:
    """The router and the pool it reads the directory through (opened on first use)."""
    db_url, _ = required(settings)
    pool = ConnectionPool(
        db_url, min_size=1, max_size=2, open=False,
        kwargs={"autocommit": True, "application_name": f"shouwen-{CONSUMER}-directory"},
    )
    cache = DirectoryCache(pool)
    approved = LearnedCache(pool)
    prepare()  # the classifier's dictionary, before the first message rather than with it

    def directory() -> DirectoryIndex | None:
        pool.open()
        return cache.get()

    def learned() -> Learned:
        pool.open()
        return approved.get()

    return Router(CaseRepository(pool), directory, metrics, learned), pool


def build_app(settings: Settings, batch_size: int = BATCH_SIZE,
              registry: CollectorRegistry | None = None, **overrides: Any) -> faust.App:
    """``registry``: where the metrics go (a fresh one if not given), served on the port."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, not {batch_size}")
    app = make_app(settings, CONSUMER, **overrides)
    registry = CollectorRegistry() if registry is None else registry
    metrics = routing_metrics(registry)
    router, pool = make_router(settings, metrics)
    if batch_size == 1:
        inbox_agent(app, settings, CONSUMER, router.handle, reads=READS, registry=registry)
    else:
        batch_agent(app, settings, CONSUMER, router.handle, router.handle_batch,
                    max_size=batch_size, max_wait=BATCH_WAIT, observe=metrics.batch,
                    reads=READS, registry=registry)

    @app.task
    async def _serve_metrics() -> None:
        await asyncio.to_thread(serve_metrics, settings.routing_metrics_port, registry,
                                "SHOUWEN_ROUTING_METRICS_PORT")

    @app.on_before_shutdown.connect
    async def _close(sender: Any, /, *_: Any, signal: Any, **__: Any) -> None:
        await asyncio.to_thread(pool.close)

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.routing",
                                     description="The routing worker (faust).")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                        help="messages per transaction (1: one transaction per message)")
    args = parser.parse_args(argv)
    try:
        settings = get_settings()  # a bad SHOUWEN_ROUTING_METRICS_PORT: ValidationError
        app = build_app(settings, batch_size=args.batch_size)
    except ValueError as exc:  # DATABASE_URL or KAFKA_BOOTSTRAP_SERVERS missing, bad setting
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run_worker(app, loglevel=settings.log_level)
    return 0
