"""Consuming case events exactly-once in effect: the handler contract and the kafka-python base.

    Delivery (raw bytes + headers)
        │ events.kafka.from_kafka ──UndecodableMessage──▶ dead letter "undecodable"
        │ events.upcast           ──raises──────────────▶ dead letter "upcast-failed"
        ▼
    ONE transaction:  inbox.record(consumer, event.id) ─ already there? ─▶ skip handler
                      handler(conn, event)             ─ raises? rollback ▶ dead letter
                      record_position(conn)   (kafka-python base: consumer_offsets row)
        │
        └─ psycopg OperationalError / InterfaceError (database away): NOT the message's fault,
           so never dead-lettered: Backoff retries, first a bounded number of times, then on
           and on with an error line each time. A message is never skipped.

``InboxHandling`` is the contract both bases share (``faust_base`` runs it in a thread).
``EventConsumer`` is the kafka-python base: partitions are assigned explicitly (kafka-python
consumer groups stall against Tansu) and the next offset of every partition is stored in
PostgreSQL (table ``consumer_offsets``) in the same transaction as the inbox row and the
handler's effects, so a restart resumes exactly where the last commit left off. Run one
instance per consumer name; scale out with the faust base (consumer groups).

Logs name the event's type, id and subject (the case id); its data appears only masked
(events.personal), and a handler's exception text (which can quote the data) goes to the
dead-letter headers only, never to the log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import psycopg
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from events import CloudEvent, upcast
from events.kafka import UndecodableMessage, from_kafka
from events.personal import mask_event_data
from services.common import inbox, tracing
from services.common.bus import kafka_security
from services.common.deadletter import DeadLetters, Delivery
from services.common.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[psycopg.Connection, CloudEvent], None]
ConnectionSource = Callable[[], AbstractContextManager[psycopg.Connection]]
PositionWriter = Callable[[psycopg.Connection], None]
TRANSIENT_DB: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg.InterfaceError)


class Outcome(StrEnum):
    handled = "handled"
    duplicate = "duplicate"
    dead_lettered = "dead-lettered"


class Stopped(Exception):
    """Asked to stop while waiting out a transient failure; the message was not finished."""


@dataclass(frozen=True)
class Backoff:
    """Retry transient failures: ``attempts`` tries with growing delays, then keep trying
    at ``max_delay`` with an error line per try. Only ``stop`` ends it (raising Stopped)."""

    attempts: int = 5
    first_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_delay, self.first_delay * 2 ** (attempt - 1)))

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


def _wait(stop: threading.Event | None, seconds: float) -> bool:
    if stop is None:
        time.sleep(seconds)
        return False
    return stop.wait(seconds)


def describe(event: CloudEvent) -> str:
    return f"{event.type} {event.id} (case {event.subject})"


def masked_data(event: CloudEvent) -> object:
    try:
        return mask_event_data(event.type, event.data)
    except Exception:  # a log line must never stop a consumer
        return "(not shown: could not be masked)"


class InboxHandling:
    """One delivery → handled once inside one transaction, or dead-lettered."""

    def __init__(
        self, name: str, handler: Handler, dead_letters: DeadLetters, backoff: Backoff | None = None
    ) -> None:
        self.name, self.handler, self.dead_letters = name, handler, dead_letters
        self.backoff = backoff or Backoff()

    def process(
        self,
        delivery: Delivery,
        connection: ConnectionSource,
        *,
        stop: threading.Event | None = None,
        record_position: PositionWriter | None = None,
    ) -> Outcome:
        try:
            event = upcast(from_kafka(delivery.value, delivery.headers))
        except UndecodableMessage as exc:
            return self._give_up(delivery, "undecodable", exc, connection, stop, record_position)
        except Exception as exc:  # an upcaster that cannot lift this event
            return self._give_up(delivery, "upcast-failed", exc, connection, stop, record_position)
        try:
            fresh = self.backoff.run(
                lambda: self._handle_once(event, connection, record_position),
                what=f"{self.name}: handling {describe(event)}",
                stop=stop,
            )
        except Stopped:
            raise
        except Exception as exc:
            log.error("%s: handler failed on %s at %s (%s); data, masked: %s", self.name,
                      describe(event), delivery.where(), type(exc).__name__, masked_data(event))
            return self._give_up(delivery, "handler-failed", exc, connection, stop, record_position)
        if not fresh:
            log.info("%s: %s was handled before; nothing to do", self.name, describe(event))
        return Outcome.handled if fresh else Outcome.duplicate

    def _handle_once(
        self,
        event: CloudEvent,
        connection: ConnectionSource,
        record_position: PositionWriter | None,
    ) -> bool:
        with tracing.handling(self.name, event), connection() as conn, conn.transaction():
            fresh = inbox.record(conn, self.name, event.id)
            if fresh:
                self.handler(conn, event)
            if record_position is not None:
                record_position(conn)
        return fresh

    def _give_up(
        self,
        delivery: Delivery,
        reason: str,
        error: Exception,
        connection: ConnectionSource,
        stop: threading.Event | None,
        record_position: PositionWriter | None,
    ) -> Outcome:
        self.backoff.run(
            lambda: self.dead_letters.send(delivery, reason=reason, error=error),
            what=f"{self.name}: dead-lettering {delivery.where()}",
            transient=(KafkaError,),
            stop=stop,
        )
        log.warning("%s: %s sent to %s (%s)", self.name, delivery.where(),
                    self.dead_letters.topic, reason)
        if record_position is not None:
            self.backoff.run(
                lambda: _in_transaction(connection, record_position),
                what=f"{self.name}: recording position after {delivery.where()}",
                stop=stop,
            )
        return Outcome.dead_lettered


def _in_transaction(connection: ConnectionSource, fn: PositionWriter) -> None:
    with connection() as conn, conn.transaction():
        fn(conn)


class Reconnecting:
    """One autocommit connection, replaced when it breaks (the next use reconnects)."""

    def __init__(self, url: str, application_name: str) -> None:
        self.url, self.application_name = url, application_name
        self._conn: psycopg.Connection | None = None

    @contextmanager
    def __call__(self) -> Iterator[psycopg.Connection]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.url, autocommit=True, connect_timeout=5,
                application_name=self.application_name,
            )
        try:
            yield self._conn
        except TRANSIENT_DB:
            self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def required(settings: Settings) -> tuple[str, str]:
    if not settings.database_url:
        raise ValueError("DATABASE_URL is not set: a consumer keeps its inbox in PostgreSQL")
    if not settings.kafka_bootstrap_servers:
        raise ValueError("KAFKA_BOOTSTRAP_SERVERS is not set: a consumer reads from Kafka")
    return settings.database_url, settings.kafka_bootstrap_servers


def stored_positions(conn: psycopg.Connection, consumer: str, topic: str) -> dict[int, int]:
    rows = conn.execute(
        "SELECT partition, next_offset FROM consumer_offsets WHERE consumer = %s AND topic = %s",
        (consumer, topic),
    ).fetchall()
    return {int(p): int(o) for p, o in rows}


def store_position(
    conn: psycopg.Connection, consumer: str, topic: str, partition: int, next_offset: int
) -> None:
    conn.execute(
        "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (consumer, topic, partition)"
        " DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
        (consumer, topic, partition, next_offset),
    )


class EventConsumer:
    """kafka-python base: every partition of ``topics`` assigned to this process, resumed
    from the offsets stored in PostgreSQL (the beginning when none is stored)."""

    def __init__(
        self,
        settings: Settings,
        name: str,
        handler: Handler,
        topics: list[str] | None = None,
        *,
        backoff: Backoff | None = None,
        max_poll_records: int = 100,
    ) -> None:
        db_url, self.bootstrap = required(settings)
        self.name = name
        self.topics = list(topics or [settings.case_events_topic])
        self.dead_letters = DeadLetters(self.bootstrap, settings.dead_letter_topic, name)
        self.handling = InboxHandling(name, handler, self.dead_letters, backoff)
        self.max_poll_records = max_poll_records
        self._db = Reconnecting(db_url, application_name=f"shouwen-{name}")
        self._kafka: KafkaConsumer | None = None

    def run(self, stop: threading.Event, poll_timeout_ms: int = 500) -> None:
        """Consume until ``stop`` is set; then close everything."""
        log.info("%s: consuming %s", self.name, ", ".join(self.topics))
        try:
            while not stop.is_set():
                self.poll_once(poll_timeout_ms, stop=stop)
        except Stopped:
            log.info("%s: stopped while waiting to retry; that message will be redone", self.name)
        finally:
            self.close()

    def poll_once(
        self, timeout_ms: int = 500, *, stop: threading.Event | None = None
    ) -> list[Outcome]:
        """Fetch what is there (waiting at most ``timeout_ms``) and process it in order."""
        kafka = self._consumer(stop)
        outcomes: list[Outcome] = []
        try:
            batches = kafka.poll(timeout_ms=timeout_ms, max_records=self.max_poll_records)
            for records in batches.values():
                outcomes.extend(self._process(record, stop) for record in records)
        except BaseException:
            # Fetch positions ran ahead of what was finished: start again from the stored ones.
            self._close_kafka()
            raise
        return outcomes

    def positions(self) -> dict[tuple[str, int], int]:
        with self._db() as conn:
            return {
                (topic, p): o for topic in self.topics
                for p, o in stored_positions(conn, self.name, topic).items()
            }

    def close(self) -> None:
        self._close_kafka()
        self.dead_letters.close()
        self._db.close()

    def _process(self, record: ConsumerRecord, stop: threading.Event | None) -> Outcome:
        delivery = Delivery(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=Delivery.normalise_headers(record.headers),
        )

        def record_position(conn: psycopg.Connection) -> None:
            store_position(conn, self.name, delivery.topic, delivery.partition, delivery.offset + 1)

        return self.handling.process(
            delivery, self._db, stop=stop, record_position=record_position
        )

    def _consumer(self, stop: threading.Event | None) -> KafkaConsumer:
        if self._kafka is None:
            self._kafka = self.handling.backoff.run(
                self._assign, what=f"{self.name}: assigning partitions",
                transient=(KafkaError, *TRANSIENT_DB), stop=stop,
            )
        return self._kafka

    def _assign(self) -> KafkaConsumer:
        kafka = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=f"shouwen-{self.name}",
            **kafka_security(),
        )
        try:
            tps = [tp for topic in self.topics for tp in _partitions(kafka, topic)]
            kafka.assign(tps)
            with self._db() as conn:
                stored = {t: stored_positions(conn, self.name, t) for t in self.topics}
            for tp in tps:
                if tp.partition in stored[tp.topic]:
                    kafka.seek(tp, stored[tp.topic][tp.partition])
                else:
                    kafka.seek_to_beginning(tp)
        except BaseException:
            kafka.close()
            raise
        return kafka

    def _close_kafka(self) -> None:
        if self._kafka is not None:
            self._kafka.close()
            self._kafka = None


def _partitions(kafka: KafkaConsumer, topic: str, wait: float = 30.0) -> list[TopicPartition]:
    deadline = time.monotonic() + wait
    while not (partitions := kafka.partitions_for_topic(topic)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic!r} does not exist (run `shouwen topics`)")
        time.sleep(0.2)
    return [TopicPartition(topic, p) for p in sorted(partitions)]
