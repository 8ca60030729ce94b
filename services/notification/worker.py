"""The notification worker: a faust consumer that plans, and a sender loop that sends.

    build(settings, notify_settings) -> Worker(app, sender)
      faust app "notification" (its consumer group)
        └─ batch_agent(case-events, consumer "notification", Planner.handle_batch)
             inbox rows + pending delivery records, ONE transaction per batch
      SHOUWEN_NOTIFY_SENDERS sender threads (started with the app, stopped before the pool
      closes), each with its own SMTP connection and its own SenderSession (the identity
      its claims carry; a killed worker's claims are taken over at once); claims never
      overlap (SKIP LOCKED)
        └─ Sender.run: claim ─ send ─ finish, see services.notification.sender
      metrics on SHOUWEN_NOTIFY_METRICS_PORT (0: off)
    main()    ``python -m services.notification`` / ``shouwen notification``

The two halves meet only in the notification_deliveries table, so a restart of either
loses nothing: what was planned is in the table, what was sent is marked there.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import CollectorRegistry
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool

from events.notification import NotifyChannel
from services.cases.repository import CaseRepository
from services.common.consumer import Reconnecting, required
from services.common.deadletter import DeadLetters
from services.common.faust_base import make_app, run_worker
from services.common.faust_batch import batch_agent
from services.common.metrics import serve
from services.common.pii import register_pii_metrics
from services.common.settings import Settings, get_settings
from services.directory.index import DirectoryCache, DirectoryIndex
from services.notification.channels import Channel, HttpChannel, SmtpChannel
from services.notification.metrics import notify_metrics
from services.notification.planner import CONSUMER, READS, Planner
from services.notification.sender import Sender
from services.notification.session import SenderSession
from services.notification.settings import NotifySettings, get_notify_settings

BATCH_SIZE = 200
BATCH_WAIT = 0.05


def channels(s: NotifySettings) -> dict[NotifyChannel, Channel]:
    found: dict[NotifyChannel, Channel] = {
        NotifyChannel.email: SmtpChannel(s.smtp_host, s.smtp_port, s.smtp_sender, s.smtp_timeout,
                                         s.smtp_idle_check)}
    if s.sms_gateway_url:
        found[NotifyChannel.sms] = HttpChannel(s.sms_gateway_url, api_key=s.sms_api_key,
                                               timeout=s.http_timeout)
    if s.webhook_url:
        found[NotifyChannel.webhook] = HttpChannel(s.webhook_url, secret=s.webhook_secret,
                                                   timeout=s.http_timeout)
    return found


def progress_connection(db_url: str) -> Reconnecting:
    """The sender's per-message marks: asynchronous commit (no WAL flush wait per message);
    a killed worker cannot lose a committed mark, a crashed database can lose the last
    fraction of a second of them (those messages then count as uncertain)."""
    url = make_conninfo(db_url, options="-c synchronous_commit=off")
    return Reconnecting(url, "shouwen-notification-progress")


@dataclass
class Worker:
    app: faust.App
    senders: list[Sender]
    registry: CollectorRegistry


def build(settings: Settings, s: NotifySettings, registry: CollectorRegistry | None = None,
          **overrides: Any) -> Worker:
    db_url, bootstrap = required(settings)
    registry = registry or CollectorRegistry()
    app = make_app(settings, CONSUMER, **overrides)
    pool = ConnectionPool(db_url, min_size=1, max_size=s.senders + 2, open=False,
                          kwargs={"autocommit": True, "application_name": "shouwen-notification"})
    cache = DirectoryCache(pool)

    def directory() -> DirectoryIndex | None:
        pool.open()
        return cache.get()

    planner = Planner(s, directory)
    batch_agent(app, settings, CONSUMER, planner.handle, planner.handle_batch,
                max_size=BATCH_SIZE, max_wait=BATCH_WAIT, reads=READS, registry=registry)
    dead_letters = DeadLetters(bootstrap, settings.dead_letter_topic, CONSUMER)

    def connection() -> Any:
        pool.open()
        return pool.connection()

    metrics = notify_metrics(registry)
    register_pii_metrics(registry)  # recipients' addresses are decrypted here
    senders = [Sender(s, connection, CaseRepository(pool), channels(s), directory, metrics,
                      dead_letters, settings.case_events_topic,
                      progress=progress_connection(db_url), session=SenderSession(db_url))
               for _ in range(s.senders)]
    stop = threading.Event()
    threads = [threading.Thread(target=sender.run, args=(stop,), daemon=True,
                                name=f"notification-sender-{i}")
               for i, sender in enumerate(senders)]

    @app.task
    async def _start_senders() -> None:
        await asyncio.to_thread(serve, s.metrics_port, registry)
        for thread in threads:
            thread.start()

    @app.on_before_shutdown.connect
    async def _stop(sender_: Any, /, *_: Any, signal: Any, **__: Any) -> None:
        stop.set()
        for thread in threads:
            if thread.is_alive():
                await asyncio.to_thread(thread.join, 30)
        await asyncio.to_thread(dead_letters.close)
        await asyncio.to_thread(pool.close)

    return Worker(app, senders, registry)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.notification",
                                     description="The notification worker (faust + sender).")
    parser.parse_args(argv)
    settings = get_settings()
    try:
        worker = build(settings, get_notify_settings())
    except ValueError as exc:  # DATABASE_URL or KAFKA_BOOTSTRAP_SERVERS missing
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run_worker(worker.app, loglevel=settings.log_level)
    return 0
