"""The relay's Prometheus metrics, built on a registry the caller gives (tests use fresh ones).

    shouwen_relay_lag_events                committed but not yet on the topic
                                            (unsequenced events + commit_log beyond published_seq)
    shouwen_relay_lag_seconds               age of the oldest of those, by events.recorded_at
    shouwen_relay_published_total           events published (re-publishes excluded)
    shouwen_relay_republished_total         events re-published (range or broker recovery)
    shouwen_relay_publish_latency_seconds   events.recorded_at -> broker ack, per event
    shouwen_relay_errors_total{kind}        failures the relay retried: db, broker, other
    shouwen_relay_active                    1 while this process holds the publishing lock
    shouwen_relay_store_behind_topic        partitions whose newest message is an event the
                                            store lacks (> 0: the relay stopped; divergence.py)
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_STATE = "SELECT published_seq, low_txid::text FROM relay_state WHERE name = %s"
# The line is read first and given as a value: compared with relay_state's column inside
# one statement, the planner could not know how few events lie above it and scanned all of
# events and commit_log on every observation (O(events): ~160 ms at 300k, every second).
# Given as a value it walks events_txid_idx from the line. Parallel workers stay off: the
# estimate for an xid8 range is poor, and launching them cost more than the walk.
_LAG = """
SELECT (SELECT coalesce(max(seq), 0) FROM commit_log), u.n,
       extract(epoch FROM clock_timestamp() - least(
            (SELECT e.recorded_at FROM commit_log l JOIN events e ON e.position = l.position
              WHERE l.seq = %(next)s), u.oldest))
FROM (SELECT count(*) AS n, min(e.recorded_at) AS oldest FROM events e
       WHERE e.txid >= %(low)s::text::xid8
         AND NOT EXISTS (SELECT 1 FROM commit_log l WHERE l.position = e.position)) u
"""
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class RelayMetrics:
    lag_events: Gauge
    lag_seconds: Gauge
    published: Counter
    republished: Counter
    latency: Histogram
    errors: Counter
    active: Gauge
    store_behind: Gauge


ERROR_KINDS = ("db", "broker", "other")


def relay_metrics(registry: CollectorRegistry) -> RelayMetrics:
    metrics = RelayMetrics(
        lag_events=Gauge(
            "shouwen_relay_lag_events",
            "Events committed to the store but not yet published",
            registry=registry,
        ),
        lag_seconds=Gauge(
            "shouwen_relay_lag_seconds",
            "Age of the oldest committed, unpublished event (by recorded_at)",
            registry=registry,
        ),
        published=Counter(
            "shouwen_relay_published", "Events published to the topic", registry=registry
        ),
        republished=Counter(
            "shouwen_relay_republished", "Events re-published to the topic", registry=registry
        ),
        latency=Histogram(
            "shouwen_relay_publish_latency_seconds",
            "From an event's recorded_at to the broker's acknowledgement",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        errors=Counter(
            "shouwen_relay_errors", "Failures retried by the relay", ["kind"], registry=registry
        ),
        active=Gauge(
            "shouwen_relay_active",
            "1 while this relay holds the publishing lock (0 = hot standby)",
            registry=registry,
        ),
        store_behind=Gauge(
            "shouwen_relay_store_behind_topic",
            "Partitions ending with an event the store does not have (the relay stops)",
            registry=registry,
        ),
    )
    for kind in ERROR_KINDS:  # at 0 from the start: the first failure is an increase
        metrics.errors.labels(kind)
    return metrics


def observe_lag(conn: psycopg.Connection, metrics: RelayMetrics, cursor: str = "main") -> None:
    """Set the lag gauges: events not yet sequenced (above relay_state.low_txid, not in
    commit_log) + commit_log beyond published_seq, and the age of the oldest of them (an
    approximation: the next to publish and the oldest unsequenced, not a full scan)."""
    with conn.transaction():
        state = conn.execute(_STATE, (cursor,)).fetchone()
        if state is None:
            return
        published, low = int(state[0]), state[1]
        conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        row = conn.execute(_LAG, {"next": published + 1, "low": low}, prepare=False).fetchone()
    assert row is not None  # an aggregate: always one row
    max_seq, unsequenced, age = row
    metrics.lag_events.set(max(0, max_seq - published) + unsequenced)
    metrics.lag_seconds.set(float(age or 0.0))
