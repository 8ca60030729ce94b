"""The ledger consumer: a faust-streaming app keeping the projection up to date.

    build_app(settings, batch_size=500)
      faust app "ledger" (its consumer group)
        └─ batch_agent (services/routing/faust_batch.py) on settings.case_events_topic,
           consumer "ledger": up to batch_size messages in ONE transaction —
           inbox rows + tables.apply_events (load the touched cases' rows FOR UPDATE,
           advance each case in stream order, upsert); a failing batch is redone message by
           message, a message that still fails goes to the dead-letter topic
    main()    ``python -m services.ledger.worker`` / ``shouwen ledger-worker``

Idempotent twice over: the inbox absorbs a redelivered message, and each case row's
version skips what is applied already (e.g. by ``shouwen rebuild`` running meanwhile).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import faust
import psycopg

from events import CloudEvent
from services.common.faust_base import inbox_agent, make_app, run_worker
from services.common.settings import Settings, get_settings
from services.ledger.tables import apply_events
from services.routing.faust_batch import batch_agent

CONSUMER = "ledger"
BATCH_SIZE = 500
BATCH_WAIT = 0.05


def handle(conn: psycopg.Connection, event: CloudEvent) -> None:
    apply_events(conn, [event])


def handle_batch(conn: psycopg.Connection, events: list[CloudEvent]) -> None:
    apply_events(conn, events)


def build_app(settings: Settings, batch_size: int = BATCH_SIZE, **overrides: Any) -> faust.App:
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, not {batch_size}")
    app = make_app(settings, CONSUMER, **overrides)
    if batch_size == 1:
        inbox_agent(app, settings, CONSUMER, handle)
    else:
        batch_agent(app, settings, CONSUMER, handle, handle_batch, max_size=batch_size,
                    max_wait=BATCH_WAIT)
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
