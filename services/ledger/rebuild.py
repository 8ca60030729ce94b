"""``shouwen rebuild [--from-store]``: the projection from scratch, in one transaction.

    lock (one rebuild at a time) ─▶ TRUNCATE case_summary, ledger_rows
        (waits for the consumer's batch in hand; its next batch waits for this commit)
    ─▶ then take the end of the source, so everything the consumer had applied is in it:
         topic  every partition's end offset (Tansu-safe: services.common.topics.topic_ends), read
                with partitions assigned, from the beginning to those ends
         store  commit_log up to its last seq (what the relay can have published), read in
                commit order with a server-side cursor
    ─▶ fold every case in memory (tables.advance: duplicates skipped, gaps from the store)
    ─▶ COPY the rows in ─▶ commit

The access audit is never touched. A live consumer goes on afterwards: its version guard
skips what the rebuild already applied.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

import orjson
import psycopg
from kafka import TopicPartition
from psycopg.types.json import set_json_loads

from events.kafka import UndecodableMessage, from_kafka
from services.common.bus import assigned_consumer
from services.common.topics import topic_ends
from services.record.projection import CaseView, Event, known
from services.record.tables import advance, copy_views, truncate

_LOCK = 0x5E0_1ED6
BATCH = 20_000
STALL_SECONDS = 30.0
_SELECT = (
    "SELECT e.event_id, e.source, e.type, e.stream_id, e.time, e.dataschema, e.actor,"
    " e.causation_id, e.correlation_id, e.version, e.data"
    " FROM commit_log l JOIN events e ON e.position = l.position"
    " WHERE l.seq <= %s AND e.type LIKE 'shouwen.case.%%' ORDER BY l.seq"
)


@dataclass
class RebuildReport:
    source: str
    events: int = 0
    cases: int = 0
    skipped: int = 0  # messages that were not case events (undecodable, other streams)
    seconds: float = 0.0

    def summary(self) -> str:
        rate = self.events / self.seconds if self.seconds else 0.0
        return (f"rebuilt the ledger from the {self.source}: {self.cases:,} case(s) from"
                f" {self.events:,} event(s) in {self.seconds:.2f} s ({rate:,.0f} events/s)"
                + (f"; {self.skipped:,} message(s) skipped" if self.skipped else ""))


def _counted(events: Iterator[Event], progress: Callable[[int], None] | None,
             every: int = 1000) -> Iterator[Event]:
    """The events, telling ``progress`` every ``every`` of them (a CLI's progress bar)."""
    if progress is None:
        yield from events
        return
    n = 0
    for event in events:
        yield event
        n += 1
        if n == every:
            progress(n)
            n = 0
    if n:
        progress(n)


def rebuild_from_store(url: str, progress: Callable[[int], None] | None = None
                       ) -> RebuildReport:
    report = RebuildReport("store")
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        _begin(conn)
        row = conn.execute("SELECT coalesce(max(seq), 0) FROM commit_log").fetchone()
        last = int(row[0]) if row else 0
        views = _fold(conn, _counted(store_events(conn, last), progress), report)
        report.cases = copy_views(conn, views)
        conn.commit()
    report.seconds = time.perf_counter() - started
    return report


class StoredEvent(NamedTuple):
    """An event row as the projection reads it: the CloudEvent's fields, not re-validated
    (they were when appended), so a rebuild does not pay for a model per event."""

    id: UUID
    source: str
    type: str
    subject: str
    time: datetime
    dataschema: str | None
    actor: str
    causationid: UUID | None
    correlationid: UUID | None
    sequence: int
    data: dict[str, Any]


def store_events(conn: psycopg.Connection, last_seq: int) -> Iterator[Event]:
    """Case events in commit order up to ``last_seq``. A thread fetches the next batch
    while this one is folded, so the server's work and ours overlap."""
    batches: queue.Queue[list[Any] | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def fetch() -> None:
        try:
            with conn.cursor(name="shouwen_ledger_rebuild") as cur:
                set_json_loads(orjson.loads, cur)
                cur.itersize = BATCH
                cur.execute(_SELECT, (last_seq,))
                while not stop.is_set() and (rows := cur.fetchmany(BATCH)):
                    batches.put(rows)
            batches.put(None)
        except BaseException as exc:  # handed to the caller
            batches.put(exc)

    fetcher = threading.Thread(target=fetch, name="ledger-rebuild-fetch", daemon=True)
    fetcher.start()
    try:
        while (item := batches.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield from map(StoredEvent._make, item)
    finally:
        stop.set()
        while fetcher.is_alive():
            with contextlib.suppress(queue.Empty):
                batches.get(timeout=0.1)


def rebuild_from_topic(url: str, bootstrap: str, topic: str,
                       progress: Callable[[int], None] | None = None) -> RebuildReport:
    report = RebuildReport(f"topic {topic}")
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        _begin(conn)
        ends = topic_ends(bootstrap, topic)
        if ends is None:
            raise ValueError(f"topic {topic} does not exist")
        views = _fold(conn, _counted(topic_events(bootstrap, topic, ends, report), progress),
                      report)
        report.cases = copy_views(conn, views)
        conn.commit()
    report.seconds = time.perf_counter() - started
    return report


def topic_events(bootstrap: str, topic: str, ends: dict[int, int],
                 report: RebuildReport) -> Iterator[Event]:
    consumer = assigned_consumer(bootstrap, topic)
    try:
        todo = {TopicPartition(topic, p): end for p, end in ends.items() if end > 0}
        moved = time.monotonic()
        while todo:
            if time.monotonic() - moved > STALL_SECONDS:
                raise RuntimeError(f"topic {topic}: no progress towards the end offsets for"
                                   f" {STALL_SECONDS:.0f} s; rebuild --from-store instead")
            for tp, records in consumer.poll(timeout_ms=500, max_records=5000).items():
                moved = time.monotonic()
                for record in records:
                    if record.offset >= todo.get(tp, 0):
                        continue
                    try:
                        event = from_kafka(record.value, record.headers)
                    except UndecodableMessage:
                        report.skipped += 1
                        continue
                    if known(event.type):  # never an unknown type's guess (received.v9)
                        yield event
                    else:
                        report.skipped += 1
            todo = {tp: end for tp, end in todo.items() if consumer.position(tp) < end}
    finally:
        consumer.close()


def _begin(conn: psycopg.Connection) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
    truncate(conn)


def _fold(conn: psycopg.Connection, events: Iterator[Event],
          report: RebuildReport) -> list[CaseView]:
    views: dict[str, CaseView | None] = {}
    for event in events:
        report.events += 1
        views[event.subject] = advance(conn, views.get(event.subject), event)
    report.skipped += sum(1 for v in views.values() if v is None)
    return [v for v in views.values() if v is not None]
