"""Is the store behind the topic? The check the relay makes before it sequences or publishes.

After PostgreSQL is recovered (a failover to a replica that missed the last commits, a
restore to an earlier point in time), the store can lack events the topic already carries
and that a signed checkpoint may already cover. Sequencing and publishing on top would give
new events the positions of the lost ones: consumers would see a different history than the
one they acted on, and the next checkpoint would look like a rewrite. So the relay does not
go on: it reports, and waits for the store to be brought back (k8s/README.md, recovery).

    newest_on_topic(bootstrap, topic)   per partition: the offset and ce_id of its last message
    unknown_to_store(conn, bootstrap, topic)  those of them the events table does not have

Only the newest message of each partition is looked at: the relay publishes in commit
order, so if the store has the newest, it has every earlier one (re-published duplicates
are events the store has, by construction).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import psycopg
from kafka import KafkaConsumer, TopicPartition

from services.common.bus import kafka_security
from services.common.topics import topic_ends


@dataclass(frozen=True)
class Newest:
    partition: int
    offset: int
    event_id: str | None  # None: not a CloudEvent (no ce_id header)


class StoreBehindTopic(RuntimeError):
    """The topic holds events the store does not: the relay must not sequence or publish."""

    def __init__(self, unknown: list[Newest], topic: str) -> None:
        self.unknown = unknown
        shown = ", ".join(f"partition {n.partition} offset {n.offset} event {n.event_id}"
                          for n in unknown[:3])
        super().__init__(
            f"the event store is behind {topic}: {len(unknown)} partition(s) end with an event "
            f"the store does not have ({shown}{', ...' if len(unknown) > 3 else ''}). Not "
            "publishing: new events would take the lost events' places. Recover the store "
            "(see k8s/README.md, 'Recovering PostgreSQL'), then the relay goes on by itself.")


def newest_on_topic(bootstrap: str, topic: str, wait: float = 5.0) -> list[Newest]:
    ends = topic_ends(bootstrap, topic)
    if not ends:
        return []
    wanted = {p: end - 1 for p, end in ends.items() if end > 0}
    if not wanted:
        return []
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="shouwen-relay-check",
                             enable_auto_commit=False, fetch_max_wait_ms=100,
                             **kafka_security())
    found: dict[int, Newest] = {}
    try:
        tps = [TopicPartition(topic, p) for p in sorted(wanted)]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, wanted[tp.partition])
        deadline = time.monotonic() + wait
        while len(found) < len(wanted) and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=200).items():
                for record in records:
                    if record.offset >= wanted[tp.partition]:
                        headers = dict(record.headers or [])
                        raw = headers.get("ce_id")
                        found[tp.partition] = Newest(
                            tp.partition, record.offset, raw.decode() if raw else None)
    finally:
        consumer.close()
    return [found[p] for p in sorted(found)]


def unknown_to_store(conn: psycopg.Connection, bootstrap: str, topic: str) -> list[Newest]:
    """The partitions whose newest message is an event the store does not have. A message
    that is no CloudEvent of ours (no ce_id, or not a UUID) is the consumers' business."""
    newest = {n: _uuid(n.event_id) for n in newest_on_topic(bootstrap, topic)}
    ids = [i for i in newest.values() if i is not None]
    if not ids:
        return []
    rows = conn.execute("SELECT event_id FROM events WHERE event_id = ANY(%s)", (ids,))
    known = {r[0] for r in rows}
    return [n for n, i in newest.items() if i is not None and i not in known]


def _uuid(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None
