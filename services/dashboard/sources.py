"""What the exporter reads: PostgreSQL (store, case_index, consumer_offsets) and the broker.

    events_appended(conn, after, limit)  {type: count} of commit_log rows after seq ``after``,
                                         and the last seq read (bounded: at most ``limit`` rows)
    case_figures(conn, today)            {unit: (open, overdue, escalated)} (cases.index)
    routing_figures(conn)                {unit: (routed, unclear, corrected)} (routing_outcomes)
    stored_offsets(conn)                 kafka-python consumers' positions (consumer_offsets)
    notifications_pending(conn)          delivery records not sent yet (pending or sending)
    calendar_years(conn, cache, year)    {(calendar, year): 1|0} for this year and next: is an
                                         official schedule loaded (services.calendar)
    BrokerReader                         end offsets (Tansu-safe, services.relay.publish),
                                         faust groups' committed offsets (ListGroups +
                                         OffsetFetch), and dead letters read incrementally
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import date

import psycopg
from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaTP

from services.calendar.cache import CalendarCache
from services.cases import index as case_index
from services.common import bus
from services.common.topics import topic_ends
from services.dashboard.lag import TopicPartition, tally_dead_letters

RUNNING = ("received", "awaiting_materials", "awaiting_handoff", "in_handling")
_APPENDED = """
SELECT e.type, count(*), max(l.seq) FROM commit_log l JOIN events e ON e.position = l.position
WHERE l.seq > %s AND l.seq <= %s GROUP BY e.type
"""


def last_seq(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT coalesce(max(seq), 0) FROM commit_log").fetchone()
    return int(row[0]) if row else 0


def events_appended(conn: psycopg.Connection, after: int, limit: int = 100_000
                    ) -> tuple[dict[str, int], int]:
    upto = min(last_seq(conn), after + limit)
    counts = {t: int(n) for t, n, _ in conn.execute(_APPENDED, (after, upto)).fetchall()}
    return counts, max(after, upto)


def case_figures(conn: psycopg.Connection, today: date) -> dict[str, tuple[int, int, int]]:
    return case_index.unit_figures(conn, RUNNING, today)


def notifications_pending(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM notification_deliveries"
                       " WHERE state IN ('pending', 'sending')").fetchone()
    return int(row[0]) if row else 0
_ROUTING = ("SELECT coalesce(handling_unit_id, 'none'), count(*),"
            " count(*) FILTER (WHERE outcome <> 'classified'), count(*) FILTER (WHERE corrected)"
            " FROM routing_outcomes GROUP BY 1")


def routing_figures(conn: psycopg.Connection) -> dict[str, tuple[int, int, int]]:
    """{unit: (cases routed, unclear, corrected)} from routing's ``routing_outcomes``."""
    return {unit: (int(n), int(u), int(c)) for unit, n, u, c in conn.execute(_ROUTING)}


def stored_offsets(conn: psycopg.Connection) -> dict[str, dict[TopicPartition, int]]:
    offsets: dict[str, dict[TopicPartition, int]] = {}
    for consumer, topic, partition, offset in conn.execute(
            "SELECT consumer, topic, partition, next_offset FROM consumer_offsets"):
        offsets.setdefault(consumer, {})[(topic, partition)] = int(offset)
    return offsets


def calendar_years(conn: psycopg.Connection, cache: CalendarCache, year: int
                   ) -> dict[tuple[str, int], int]:
    book = cache.get(conn)
    return {(c.calendar_id, y): int(c.covers(y))
            for c in book.calendars.values() for y in (year, year + 1)}


class BrokerReader:
    def __init__(self, bootstrap: str, topics: list[str], dead_letter_topic: str) -> None:
        self.bootstrap, self.topics, self.dead_letter_topic = bootstrap, topics, dead_letter_topic
        self._positions: dict[int, int] = {}
        self._reader: KafkaConsumer | None = None

    def ends(self) -> dict[TopicPartition, int]:
        found: dict[TopicPartition, int] = {}
        for topic in self.topics:
            for partition, end in (topic_ends(self.bootstrap, topic, wait=2.0) or {}).items():
                found[(topic, partition)] = end
        return found

    def group_offsets(self) -> dict[str, dict[TopicPartition, int]]:
        admin = bus.admin(self.bootstrap)
        try:
            groups = [g["group_id"] for g in admin.list_groups()]
            if not groups:
                return {}
            found = admin.list_group_offsets(groups)
        finally:
            admin.close()
        return {group: {(tp.topic, tp.partition): int(meta.offset)
                        for tp, meta in offsets.items()
                        if tp.topic in self.topics and meta.offset >= 0}
                for group, offsets in found.items()}

    def new_dead_letters(self, ends: dict[TopicPartition, int], budget: float = 5.0
                         ) -> Counter[tuple[str, str]]:
        """Dead letters that arrived since the last call, tallied by consumer and reason."""
        mine = {p: end for (t, p), end in ends.items() if t == self.dead_letter_topic}
        for p, end in mine.items():
            if self._positions.get(p, 0) > end:  # the broker restarted empty
                self._positions[p] = 0
        behind = {p for p, end in mine.items() if self._positions.get(p, 0) < end}
        if not behind:
            return Counter()
        reader = self._consumer()
        tps = [KafkaTP(self.dead_letter_topic, p) for p in sorted(mine)]
        reader.assign(tps)
        for tp in tps:
            reader.seek(tp, self._positions.get(tp.partition, 0))
        headers: list[list[tuple[str, bytes | None]]] = []
        deadline = time.monotonic() + budget
        while behind and time.monotonic() < deadline:
            for tp, records in reader.poll(timeout_ms=200).items():
                for record in records:
                    headers.append(list(record.headers or []))
                    self._positions[tp.partition] = record.offset + 1
                if self._positions[tp.partition] >= mine.get(tp.partition, 0):
                    behind.discard(tp.partition)
        return tally_dead_letters(headers)

    def _consumer(self) -> KafkaConsumer:
        if self._reader is None:
            self._reader = KafkaConsumer(bootstrap_servers=self.bootstrap,
                                         enable_auto_commit=False, client_id="shouwen-exporter",
                                         auto_offset_reset="earliest", fetch_max_wait_ms=100,
                                         **bus.kafka_security())
        return self._reader

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
