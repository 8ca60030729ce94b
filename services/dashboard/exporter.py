"""``shouwen exporter``: store, bus and case figures for Prometheus (deploy/METRICS.md).

    refresh loop (one thread, every ``interval`` s)          scrape (any time)
      PostgreSQL: commit_log since last seq, case_index,       Exporter.collect() yields the
                  consumer_offsets                     ──▶    last snapshot: never blocks on
      broker:     end offsets, faust groups' commits,          the database or the broker
                  new dead letters
    shouwen_events_appended_total{type}  shouwen_consumer_lag{group,topic,partition}
    shouwen_topic_end_offset{topic,partition}  shouwen_dead_letters_total{consumer,reason}
    shouwen_cases_open|overdue|escalated{unit}  shouwen_exporter_errors_total{source}
    shouwen_calendar_year_covered{calendar,year}  (this year and next)
    shouwen_notification_pending  delivery records not sent yet (one figure for all the
                                  notification workers: counted here, not by each of them)
    shouwen_routing_cases|unclear_cases|corrected_cases{unit}  (routing_outcomes)

A failed read counts an error and keeps the previous figures, so one broker hiccup never
blanks a dashboard. A unit once seen keeps reporting (0 when it has no open cases).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TypeVar

import psycopg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from services.calendar.builtin import today
from services.calendar.cache import CalendarCache
from services.dashboard import sources
from services.dashboard.lag import LagRow, TopicPartition, lag_rows, merge

log = logging.getLogger("services.dashboard.exporter")
T = TypeVar("T")


class Exporter:
    def __init__(self, database_url: str, broker: sources.BrokerReader | None) -> None:
        self.database_url, self.broker = database_url, broker
        self._lock = threading.Lock()
        self.seq: int | None = None
        self.appended: Counter[str] = Counter()
        self.cases: dict[str, tuple[int, int, int]] = {}
        self.routing: dict[str, tuple[int, int, int]] = {}
        self.ends: dict[TopicPartition, int] = {}
        self.lag: list[LagRow] = []
        self.dead_letters: Counter[tuple[str, str]] = Counter()
        self.errors: Counter[str] = Counter({"db": 0, "broker": 0})
        self.calendar = CalendarCache()
        self.years: dict[tuple[str, int], int] = {}
        self.pending: int | None = None

    def refresh(self) -> None:
        stored = self._guarded("db", self._read_db)
        if self.broker is not None:
            self._guarded("broker", lambda: self._read_broker(stored or {}))

    def _guarded(self, source: str, read: Callable[[], T]) -> T | None:
        try:
            return read()
        except Exception:  # noqa: BLE001 - any failure: count it, keep the last figures
            log.warning("reading %s failed", source, exc_info=True)
            with self._lock:
                self.errors[source] += 1
            return None

    def _read_db(self) -> dict[str, dict[TopicPartition, int]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            if self.seq is None:
                self.seq = sources.last_seq(conn)  # counts start now, like any counter
            counts, seq = sources.events_appended(conn, self.seq)
            cases = sources.case_figures(conn, today())
            routing = sources.routing_figures(conn)
            stored = sources.stored_offsets(conn)
            years = sources.calendar_years(conn, self.calendar, today().year)
            pending = sources.notifications_pending(conn)
        with self._lock:
            self.pending = pending
            self.years = years
            self.seq = seq
            self.appended.update(counts)
            self.cases = {**dict.fromkeys(self.cases, (0, 0, 0)), **cases}
            self.routing = {**dict.fromkeys(self.routing, (0, 0, 0)), **routing}
        return stored

    def _read_broker(self, stored: dict[str, dict[TopicPartition, int]]) -> None:
        assert self.broker is not None
        ends = self.broker.ends()
        committed = merge(self.broker.group_offsets(), stored)
        new = self.broker.new_dead_letters(ends)
        with self._lock:
            self.ends, self.lag = ends, lag_rows(ends, committed)
            self.dead_letters.update(new)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            yield self._family(CounterMetricFamily, "shouwen_events_appended",
                               "Events appended to the store (commit order), by type", ["type"],
                               {(t,): n for t, n in self.appended.items()})
            yield self._family(GaugeMetricFamily, "shouwen_consumer_lag",
                               "Messages a consumer group has not handled yet",
                               ["group", "topic", "partition"],
                               {(r.group, r.topic, str(r.partition)): r.lag for r in self.lag})
            yield self._family(GaugeMetricFamily, "shouwen_topic_end_offset",
                               "End offset (last + 1) of each partition",
                               ["topic", "partition"],
                               {(t, str(p)): e for (t, p), e in self.ends.items()})
            yield self._family(CounterMetricFamily, "shouwen_dead_letters",
                               "Messages on the dead-letter topic", ["consumer", "reason"],
                               {k: n for k, n in self.dead_letters.items()})
            for i, (name, text) in enumerate((
                    ("open", "Cases not closed"),
                    ("overdue", "Open cases past their due date"),
                    ("escalated", "Open cases escalated at least once"))):
                yield self._family(GaugeMetricFamily, f"shouwen_cases_{name}", f"{text}, by unit",
                                   ["unit"], {(u,): f[i] for u, f in self.cases.items()})
            for i, (name, text) in enumerate((
                    ("routing_cases", "Cases routing decided on"),
                    ("routing_unclear_cases", "Of those, unclear: suggested or escalated"),
                    ("routing_corrected_cases", "Of those, matter corrected by a person"))):
                yield self._family(GaugeMetricFamily, f"shouwen_{name}",
                                   f"{text}, by handling unit", ["unit"],
                                   {(u,): f[i] for u, f in self.routing.items()})
            yield self._family(GaugeMetricFamily, "shouwen_calendar_year_covered",
                               "1 if an official schedule is loaded for the calendar and year",
                               ["calendar", "year"],
                               {(c, str(y)): v for (c, y), v in self.years.items()})
            if self.pending is not None:  # not before the first read: no false 0
                yield GaugeMetricFamily("shouwen_notification_pending",
                                        "Notification delivery records not sent yet",
                                        value=self.pending)
            yield self._family(CounterMetricFamily, "shouwen_exporter_errors",
                               "Failed reads of the exporter", ["source"],
                               {(s,): n for s, n in self.errors.items()})

    @staticmethod
    def _family(kind: type, name: str, text: str, labels: list[str],
                values: dict[tuple[str, ...], int]) -> Metric:
        family = kind(name, text, labels=labels)
        for label_values, value in sorted(values.items()):
            family.add_metric(list(label_values), value)
        return family  # type: ignore[no-any-return]


def run(exporter: Exporter, interval: float, stop: threading.Event) -> None:
    """Refresh every ``interval`` seconds until ``stop`` is set."""
    while not stop.is_set():
        exporter.refresh()
        stop.wait(interval)
