"""Consuming case events exactly-once in effect: the handler contract and the kafka-python base.

    Delivery (raw bytes + headers)
        │ reads.skipped: a known type this consumer does not read (ce_type header only)
        │ ─▶ acked unopened, counted; the kafka-python base records its position alone
        │ screen.decode: not a CloudEvent, key != subject, unknown type or version, an
        │ upcaster raised ─────────────────────────────▶ dead letter with that reason
        ▼
    ONE transaction:  screen.verify: the event is in the store, hashing to its stored hash
                                                       ─ no? rollback ─▶ dead letter
                      inbox.record(consumer, event.id) ─ already there? ─▶ skip handler
                      handler(conn, event)             ─ raises? rollback ▶ dead letter
                      record_position(conn)   (kafka-python base: consumer_offsets row)
    dead letter:      the topic (acked), then ONE transaction: the dead_letters row
                      (deadletter_store) and the position
        │
        └─ psycopg OperationalError / InterfaceError (database away): NOT the message's fault,
           so never dead-lettered: Backoff retries, first a bounded number of times, then on
           and on with an error line each time. A message is never skipped.

``InboxHandling`` is the contract every base runs: the faust bases (``faust_base``,
``faust_batch``) of the services, and bench/plain_consumer.py's ``EventConsumer`` (a
kafka-python consumer keeping its positions in ``consumer_offsets``), which no service runs.

Logs name the event's type, id and subject (the case id); its data appears only masked
(events.personal), and a handler's exception text (which can quote the data) goes to the
dead-letter headers only, never to the log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from enum import StrEnum
from typing import TypeVar

import psycopg
from kafka.errors import KafkaError

from events import CloudEvent
from events.personal import mask_event_data
from services.common import deadletter_store, inbox, screen, tracing
from services.common.backoff import TRANSIENT_DB, Backoff, Stopped
from services.common.deadletter import DeadLetters, Delivery
from services.common.reads import EVERYTHING, Reads
from services.common.screen import Rejected
from services.common.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[psycopg.Connection, CloudEvent], None]
ConnectionSource = Callable[[], AbstractContextManager[psycopg.Connection]]
PositionWriter = Callable[[psycopg.Connection], None]
Skipped = Callable[[str], None]  # told the type of each message acked unopened (a metric)


class Outcome(StrEnum):
    handled = "handled"
    duplicate = "duplicate"
    dead_lettered = "dead-lettered"
    skipped = "skipped"  # a known type the consumer does not read: acked unopened


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
        self, name: str, handler: Handler, dead_letters: DeadLetters,
        backoff: Backoff | None = None, *, reads: Reads = EVERYTHING,
        on_skip: Skipped | None = None,
    ) -> None:
        self.name, self.handler, self.dead_letters = name, handler, dead_letters
        self.backoff = backoff or Backoff()
        self.reads, self.on_skip = reads, on_skip

    def process(
        self,
        delivery: Delivery,
        connection: ConnectionSource,
        *,
        stop: threading.Event | None = None,
        record_position: PositionWriter | None = None,
    ) -> Outcome:
        skipped = self.reads.skipped(delivery)
        if skipped is not None:
            if record_position is not None:  # no stall: the position moves past it
                self.backoff.run(lambda: _in_transaction(connection, record_position),
                                 what=f"{self.name}: moving past {delivery.where()}", stop=stop)
            self.count_skipped(skipped)
            return Outcome.skipped
        try:
            raw, event = screen.decode(delivery)
        except Rejected as exc:
            return self._give_up(delivery, exc.reason, exc, connection, stop, record_position)
        try:
            fresh = self.backoff.run(
                lambda: self._handle_once(raw, event, connection, record_position),
                what=f"{self.name}: handling {describe(event)}",
                stop=stop,
            )
        except Stopped:
            raise
        except Rejected as exc:
            return self._give_up(delivery, exc.reason, exc, connection, stop, record_position)
        except Exception as exc:
            log.error("%s: handler failed on %s at %s (%s); data, masked: %s", self.name,
                      describe(event), delivery.where(), type(exc).__name__, masked_data(event))
            return self._give_up(delivery, "handler-failed", exc, connection, stop, record_position)
        if not fresh:
            log.info("%s: %s was handled before; nothing to do", self.name, describe(event))
        return Outcome.handled if fresh else Outcome.duplicate

    def count_skipped(self, event_type: str) -> None:
        if self.on_skip is not None:
            self.on_skip(event_type)

    def _handle_once(
        self,
        raw: CloudEvent,
        event: CloudEvent,
        connection: ConnectionSource,
        record_position: PositionWriter | None,
    ) -> bool:
        with tracing.handling(self.name, event), connection() as conn, conn.transaction():
            problem = screen.verify(conn, [raw])[0]
            if problem is not None:
                raise problem
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
        """Dead-letter: the topic first (acked), then the PostgreSQL row and the position
        in one transaction, so the consumer moves past a message only once both hold it."""
        self.send_letter(delivery, reason, error, stop)

        def keep(conn: psycopg.Connection) -> None:
            deadletter_store.record(conn, delivery, consumer=self.name, reason=reason,
                                    error=error)
            if record_position is not None:
                record_position(conn)

        self.backoff.run(
            lambda: _in_transaction(connection, keep),
            what=f"{self.name}: recording the dead letter {delivery.where()}",
            stop=stop,
        )
        return Outcome.dead_lettered

    def send_letter(self, delivery: Delivery, reason: str, error: BaseException,
                    stop: threading.Event | None) -> None:
        self.backoff.run(
            lambda: self.dead_letters.send(delivery, reason=reason, error=error),
            what=f"{self.name}: dead-lettering {delivery.where()}",
            transient=(KafkaError,),
            stop=stop,
        )
        log.warning("%s: %s sent to %s (%s: %s)", self.name, delivery.where(),
                    self.dead_letters.topic, reason, _brief(error))


def _brief(error: BaseException) -> str:
    """The reason's detail for a log line: a Rejected's own text names ids and types only;
    a handler's exception text can quote data, so only its type is logged."""
    return str(error) if isinstance(error, Rejected) else type(error).__name__


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
