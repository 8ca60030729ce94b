"""What the consumer tests share: a handler with a visible effect, test input, and a faust app.

    record_effect     the handler: inserts one row per call into consumer_effects (no unique
                      key, so a second run would show); a matter of FAILING_MATTER makes it
                      write a row and then raise, so a rollback shows too
    received/produce  test input, appended to the store, then through the real producer
                      and the CloudEvents binding (raw triples go as they are)
    dead_letters      read back what reached the dead-letter topic
    allow_connections a database outage, on and off

    python -m tests.integration.faust_app_fixture   runs a faust worker for consumer
    $SHOUWEN_TEST_CONSUMER with record_effect, configured from the usual environment;
    with $SHOUWEN_TEST_READS (event types, comma-separated) a batch agent reading only
    those, its metrics served on $SHOUWEN_TEST_METRICS_PORT.
"""

from __future__ import annotations

import os
import time
from uuid import UUID

import faust
import psycopg
from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import CollectorRegistry
from psycopg import sql

from events import CloudEvent, new_event
from events.case import CaseReceived, Channel
from events.kafka import to_kafka
from services.common import bus
from services.common.eventstore import ANY, EventStore
from services.common.faust_base import inbox_agent, make_app, run_worker
from services.common.faust_batch import batch_agent
from services.common.metrics import serve
from services.common.reads import Reads
from services.common.settings import Settings

FAILING_MATTER = "handler must fail"
RawMessage = tuple[bytes, bytes, list[tuple[str, bytes]]]
EFFECTS_DDL = (
    "CREATE TABLE consumer_effects (event_id uuid NOT NULL, subject text NOT NULL,"
    " matter text NOT NULL)"
)


def record_effect(conn: psycopg.Connection, event: CloudEvent) -> None:
    matter = str(event.data["matter"])
    conn.execute(
        "INSERT INTO consumer_effects (event_id, subject, matter) VALUES (%s, %s, %s)",
        (event.id, event.subject, matter),
    )
    if matter == FAILING_MATTER:
        raise RuntimeError("the handler refuses this matter")


def received(case_id: str = "C-1", matter: str = "补办社保卡") -> CloudEvent:
    payload = CaseReceived(
        channel=Channel.phone, receipt_number="R-1", unit_id="U1", matter=matter,
        inquirer_name="张三", inquirer_phone="13800000000", first_responder_id="S1",
        first_responder_name="李四", first_responder_duty="窗口受理",
        first_responder_contact="0935-1234567",
    )
    return new_event(payload, subject=case_id, actor="staff:S1")


def stored(settings: Settings, event: CloudEvent) -> CloudEvent:
    """``event`` appended to its case's stream (a no-op when it is there): as the relay
    would publish it, with its sequence. Consumers apply only what is in the store.
    An event that has its sequence is taken as stored already."""
    if event.sequence is not None:
        return event
    store = EventStore(str(settings.database_url))
    return store.append(event.subject, [event], ANY)[0].event


def produce(settings: Settings, *messages: CloudEvent | RawMessage) -> None:
    """Send events (or raw key/value/headers triples) in order, and wait for the acks.
    An event is appended to the store first (``stored``), as the relay would find it."""
    producer = bus.producer(str(settings.kafka_bootstrap_servers))
    try:
        for message in messages:
            key, value, headers = (to_kafka(stored(settings, message))
                                   if isinstance(message, CloudEvent) else message)
            producer.send(settings.case_events_topic, key=key, value=value, headers=headers)
        producer.flush(timeout=15)
    finally:
        producer.close(timeout=5)


def dead_letters(settings: Settings, expected: int, timeout: float = 15.0) -> list[ConsumerRecord]:
    """Everything on the dead-letter topic once ``expected`` records are there (or timeout)."""
    bootstrap = str(settings.kafka_bootstrap_servers)
    reader = bus.assigned_consumer(bootstrap, settings.dead_letter_topic)
    found: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < expected and time.monotonic() < deadline:
            for records in reader.poll(timeout_ms=300).values():
                found.extend(records)
        for records in reader.poll(timeout_ms=300).values():  # anything more than expected
            found.extend(records)
    finally:
        reader.close()
    return sorted(found, key=lambda r: (r.partition, r.offset))


def effects(url: str) -> list[tuple[UUID, str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT event_id, subject, matter FROM consumer_effects").fetchall()
    return sorted((r[0], r[1], r[2]) for r in rows)


def inbox_ids(url: str, consumer: str) -> set[UUID]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT event_id FROM inbox WHERE consumer = %s", (consumer,))
        return {r[0] for r in rows}


def allow_connections(admin_url: str, url: str, allowed: bool) -> None:
    """Open or close the test database; closing also ends every session in it (an outage)."""
    db = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                sql.Identifier(db), sql.Literal(allowed)
            )
        )
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db,)
            )


def build_app(settings: Settings, consumer: str) -> faust.App:
    app = make_app(settings, consumer)
    inbox_agent(app, settings, consumer, record_effect)
    return app


def build_reading_app(settings: Settings, consumer: str, reads: Reads, port: int) -> faust.App:
    """A batch agent (as routing's) that reads only ``reads``; its metrics on ``port``."""
    app = make_app(settings, consumer)
    registry = CollectorRegistry()

    def record_effects(conn: psycopg.Connection, events: list[CloudEvent]) -> None:
        for event in events:
            record_effect(conn, event)

    batch_agent(app, settings, consumer, record_effect, record_effects, max_size=100,
                reads=reads, registry=registry)

    @app.task
    async def _serve() -> None:
        serve(port, registry)

    return app


if __name__ == "__main__":
    name = os.environ["SHOUWEN_TEST_CONSUMER"]
    if os.environ.get("SHOUWEN_TEST_READS"):
        reads = Reads.types(os.environ["SHOUWEN_TEST_READS"].split(","))
        app = build_reading_app(Settings(), name, reads,
                                int(os.environ["SHOUWEN_TEST_METRICS_PORT"]))
    else:
        app = build_app(Settings(), name)
    run_worker(app, loglevel="INFO")
