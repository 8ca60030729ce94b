"""A plain kafka-python consumer on the services' inbox contract: no service runs it; the
tests drive ``InboxHandling`` through it and benches read beside it.

``EventConsumer``: partitions are assigned explicitly (kafka-python consumer groups stall
against Tansu) and the next offset of every partition is stored in PostgreSQL (table
``consumer_offsets``) in the same transaction as the inbox row and the handler's effects, so
a restart resumes exactly where the last commit left off. Run one instance per consumer
name; the services scale out with the faust bases (consumer groups) instead.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from services.common.backoff import TRANSIENT_DB, Backoff, Stopped
from services.common.consumer import (
    Handler,
    InboxHandling,
    Outcome,
    Reconnecting,
    required,
)
from services.common.deadletter import DeadLetters, Delivery
from services.common.settings import Settings

log = logging.getLogger(__name__)


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
