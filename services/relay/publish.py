"""Publishing steps shared by the relay loop, ``republish`` and broker recovery.

    fetch(conn, after_seq, limit)      commit_log ⋈ events, in seq order -> Outgoing messages
    send_all / await_acks              send a batch; wait for every ack (else PublishFailed)
    publish_range(...)                 over a seq range, batch by batch, one batch in flight
                                       while the next is read and sent
    cursor / advance                   relay_state.published_seq (moved only after the acks)
    topic_end_total                    the sum of the partitions' real end offsets
                                       (services.common.topics.topic_ends)
    endpoints / connect / relay_producer  the relay's database session and producer
    broker_listening                   a quick TCP check before kafka-python's long waits

A message is a CloudEvent in the Kafka binary binding (events.kafka.binary_message, what
to_kafka writes, built from the stored row's columns), key = case id,
so each case's events keep their order on one partition.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from kafka import KafkaProducer
from kafka.errors import KafkaConnectionError
from psycopg.types.json import set_json_loads

from events.kafka import binary_message
from services.common import tracing
from services.common.bus import ensure_topics, producer
from services.common.settings import Settings
from services.common.topics import topic_ends

_TOPIC = "case-events"  # the span's name: publish case-events

CURSOR = "main"
REQUEST_TIMEOUT_MS = 5_000
DELIVERY_TIMEOUT_MS = 15_000
FLUSH_TIMEOUT = 30.0  # above the producer's delivery timeout: records fail before this

_FETCH = (
    "SELECT l.seq, e.event_id, e.source, e.type, e.stream_id, e.time, e.dataschema, e.actor,"
    " e.causation_id, e.correlation_id, e.version, e.data, e.recorded_at,"
    " t.traceparent, t.tracestate"
    " FROM commit_log l JOIN events e ON e.position = l.position"
    " LEFT JOIN event_traces t ON t.event_id = e.event_id"
    " WHERE l.seq > %s AND l.seq <= %s ORDER BY l.seq LIMIT %s"
)


class PublishFailed(Exception):
    """The broker did not acknowledge every message of a batch; nothing was marked published."""


@dataclass(frozen=True)
class Outgoing:
    seq: int
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    recorded_at: datetime


def _outgoing(row: tuple[Any, ...]) -> Outgoing:
    """A stored row as its CloudEvent's Kafka message, straight from its columns: the store
    validated the event on append; building and validating it again would double the
    relay's own cost (tests hold the message equal to ``to_kafka`` of the event read back)."""
    seq, id_, source, type_, subject, time_, schema, actor, cause, corr, version, data, at, \
        parent, state = row
    parent, state = tracing.publishing(_TOPIC, parent, state)
    key, value, headers = binary_message(
        id_, source, type_, subject, time_, schema, actor, cause, corr, version, data,
        traceparent=parent, tracestate=state,
    )
    return Outgoing(seq, key, value, headers, at)


def fetch(
    conn: psycopg.Connection, after_seq: int, limit: int, up_to: int | None = None
) -> list[Outgoing]:
    """Up to ``limit`` sequenced events with seq in (after_seq, up_to], in seq order."""
    ceiling = up_to if up_to is not None else 2**63 - 1
    with conn.cursor() as cur:
        set_json_loads(orjson.loads, cur)  # a batch's worth of data: the quicker parser
        rows = cur.execute(_FETCH, (after_seq, ceiling, limit)).fetchall()
    return [_outgoing(r) for r in rows]


def send_all(producer: KafkaProducer, topic: str, batch: list[Outgoing]) -> list[Any]:
    return [producer.send(topic, key=m.key, value=m.value, headers=m.headers) for m in batch]


def await_acks(batch: list[Outgoing], futures: list[Any], timeout: float = FLUSH_TIMEOUT) -> float:
    """Wait until every message of ``batch`` is acknowledged; returns the time (epoch s) it
    was. Raises PublishFailed naming the first message that failed or timed out."""
    deadline = time.monotonic() + timeout
    for message, future in zip(batch, futures, strict=True):
        try:
            future.get(timeout=max(0.0, deadline - time.monotonic()))
        except Exception as exc:  # kafka-python raises the delivery error itself
            raise PublishFailed(f"seq {message.seq}: {exc!r}") from exc
    return time.time()


def publish_range(
    conn: psycopg.Connection,
    producer: KafkaProducer,
    topic: str,
    first: int,
    last: int | None,
    batch_size: int,
    on_batch: Callable[[list[Outgoing], float], None] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """(Re-)publish seq first..last (None: to the end of commit_log), batch by batch, in
    order; ``on_batch`` runs once a whole batch is acknowledged (the relay moves its cursor
    there). One batch stays in flight while the next is read and sent, so the producer is
    never idle; after the last one, flush. Stops after a whole batch when ``stop`` is set.
    Returns how many events were sent."""
    sent = 0
    in_flight: tuple[list[Outgoing], list[Any]] | None = None
    batch = fetch(conn, first - 1, batch_size, up_to=last)
    while batch:
        futures = send_all(producer, topic, batch)
        if in_flight is not None:
            sent += _settle(*in_flight, on_batch)
        in_flight = (batch, futures)
        if stop is not None and stop.is_set():
            break
        batch = fetch(conn, batch[-1].seq, batch_size, up_to=last)
    if in_flight is not None:
        producer.flush(timeout=FLUSH_TIMEOUT)
        sent += _settle(*in_flight, on_batch)
    return sent


def _settle(
    batch: list[Outgoing],
    futures: list[Any],
    on_batch: Callable[[list[Outgoing], float], None] | None,
) -> int:
    acked_at = await_acks(batch, futures)
    if on_batch is not None:
        on_batch(batch, acked_at)
    return len(batch)


def cursor(conn: psycopg.Connection, name: str = CURSOR) -> int:
    """relay_state.published_seq (creating the row if it is missing)."""
    conn.execute("INSERT INTO relay_state (name) VALUES (%s) ON CONFLICT DO NOTHING", (name,))
    row = conn.execute(
        "SELECT published_seq FROM relay_state WHERE name = %s", (name,)
    ).fetchone()
    return int(row[0]) if row else 0


def advance(conn: psycopg.Connection, seq: int, name: str = CURSOR) -> None:
    """Mark everything up to ``seq`` published. Never moves the cursor backwards.

    Committed without waiting for the WAL flush: if the server crashes before it, the cursor
    is found a little behind and those events go out again (duplicates, never a gap)."""
    with conn.transaction():
        conn.execute("SET LOCAL synchronous_commit TO off")
        conn.execute(
            "UPDATE relay_state SET published_seq = GREATEST(published_seq, %s),"
            " updated_at = now() WHERE name = %s",
            (seq, name),
        )


def topic_end_total(bootstrap: str, topic: str) -> int | None:
    """Sum of ``topic``'s end offsets, or None when the topic is missing. End offsets never
    go back on a live broker (retention moves only the beginnings), so a total below
    published_seq means the broker lost messages."""
    ends = topic_ends(bootstrap, topic)
    return None if ends is None else sum(ends.values())


def endpoints(settings: Settings) -> tuple[str, str]:
    """(DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS), or ValueError saying which is missing."""
    if not settings.database_url:
        raise ValueError("DATABASE_URL is not set: the relay needs the event store")
    if not settings.kafka_bootstrap_servers:
        raise ValueError("KAFKA_BOOTSTRAP_SERVERS is not set: the relay needs the broker")
    return settings.database_url, settings.kafka_bootstrap_servers


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(
        url, autocommit=True, application_name="shouwen-relay", connect_timeout=5
    )


def broker_listening(bootstrap: str, timeout: float = 1.0) -> bool:
    """Whether any bootstrap server accepts a TCP connection. Checked before kafka-python
    is asked: its clients wait 30 s for a broker that is down (the relay would not stop on
    SIGTERM meanwhile) and leave a thread behind each time they give up."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "localhost", int(port)), timeout=timeout):
                return True
        except (OSError, ValueError):
            continue
    return False


def relay_producer(settings: Settings) -> KafkaProducer:
    """Make the topics exist, then the idempotent producer. Records expire after
    DELIVERY_TIMEOUT_MS, not kafka-python's 120 s: a batch the broker cannot take (down, or
    restarted and refusing our producer id) fails soon, and the relay starts over from its
    cursor with a new producer (duplicates, never a gap)."""
    _, bootstrap = endpoints(settings)
    if not broker_listening(bootstrap):
        raise KafkaConnectionError(f"no broker listening at {bootstrap}")
    ensure_topics(
        bootstrap,
        [settings.case_events_topic, settings.dead_letter_topic],
        settings.topic_partitions,
        settings.topic_replication_factor,
    )
    return producer(
        bootstrap, client_id="shouwen-relay",
        request_timeout_ms=REQUEST_TIMEOUT_MS, delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
    )
