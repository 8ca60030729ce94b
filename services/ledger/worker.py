"""The ledger consumer: a faust-streaming app keeping the projection up to date.

    build_app(settings, batch_size=500)
      faust app "ledger" (its consumer group)
        └─ batch_agent (services/common/faust_batch.py) on settings.case_events_topic,
           consumer "ledger": up to batch_size messages in ONE transaction —
           inbox rows + tables.apply_events (load the touched cases' rows FOR UPDATE,
           advance each case in stream order, upsert); a failing batch is redone message by
           message, a message that still fails goes to the dead-letter topic
      Prometheus metrics (services.ledger.metrics) on SHOUWEN_LEDGER_METRICS_PORT (9107;
      0: none), served once the app starts
    main()    ``python -m services.ledger.worker`` / ``shouwen ledger-worker``

Idempotent twice over: the inbox absorbs a redelivered message, and each case row's
version skips what is applied already (e.g. by ``shouwen rebuild`` running meanwhile).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import faust
import psycopg
from prometheus_client import CollectorRegistry

from events import CloudEvent
from services.common.faust_base import inbox_agent, make_app, run_worker
from services.common.faust_batch import batch_agent
from services.common.ledger_settings import LedgerSettings
from services.common.metrics import serve_metrics
from services.common.pii import register_pii_metrics
from services.common.reads import EVERYTHING
from services.common.settings import Settings, get_settings
from services.ledger.metrics import LedgerMetrics, ledger_metrics
from services.record.tables import apply_events

CONSUMER = "ledger"
# Every type: apply_events advances each case's version guard one stream version at a time,
# so a type passed over would read as a gap (filled from the store, per case, per batch),
# and the timeline, the notices delivered and the version all come from every event. The
# ledger is also the consumer that screens (dead-letters) every message of the topic.
READS = EVERYTHING
BATCH_SIZE = 500
BATCH_WAIT = 0.05


class Projector:
    """The consumer's handlers, counting the gaps they fill from the store."""

    def __init__(self, metrics: LedgerMetrics | None = None) -> None:
        self.on_gap = metrics.gap_fills.inc if metrics is not None else None

    def handle(self, conn: psycopg.Connection, event: CloudEvent) -> None:
        apply_events(conn, [event], self.on_gap)

    def handle_batch(self, conn: psycopg.Connection, events: list[CloudEvent]) -> None:
        apply_events(conn, events, self.on_gap)


def build_app(settings: Settings, batch_size: int = BATCH_SIZE,
              registry: CollectorRegistry | None = None,
              metrics_port: int | None = None, **overrides: Any) -> faust.App:
    """``registry``: where the metrics go (a fresh one if not given), served on
    ``metrics_port`` (default: SHOUWEN_LEDGER_METRICS_PORT)."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, not {batch_size}")
    port = LedgerSettings().metrics_port if metrics_port is None else metrics_port
    app = make_app(settings, CONSUMER, **overrides)
    registry = CollectorRegistry() if registry is None else registry
    metrics = ledger_metrics(registry)
    register_pii_metrics(registry)  # the 台账 rows are decrypted here
    projector = Projector(metrics)
    if batch_size == 1:
        inbox_agent(app, settings, CONSUMER, projector.handle, reads=READS)
    else:
        batch_agent(app, settings, CONSUMER, projector.handle, projector.handle_batch,
                    max_size=batch_size, max_wait=BATCH_WAIT, observe=metrics.batch,
                    reads=READS)

    @app.task
    async def _serve_metrics() -> None:
        await asyncio.to_thread(serve_metrics, port, registry, "SHOUWEN_LEDGER_METRICS_PORT")

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.ledger.worker",
                                     description="The ledger projection consumer (faust).")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                        help="messages per transaction (1: one transaction per message)")
    args = parser.parse_args(argv)
    settings = get_settings()
    try:
        app = build_app(settings, batch_size=args.batch_size)
    except ValueError as exc:  # DATABASE_URL or KAFKA_BOOTSTRAP_SERVERS missing, bad size
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run_worker(app, loglevel=settings.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
