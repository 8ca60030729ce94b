"""The ledger worker's Prometheus metrics, on a registry the caller gives.

    shouwen_ledger_events_projected_total       messages projected (committed, not duplicates)
    shouwen_ledger_batches_total                batches committed
    shouwen_ledger_batch_seconds                one batch: its transaction, start to commit
    shouwen_ledger_gap_fills_total              cases whose missing versions were read from
                                                the event store (a message the topic lost)
    shouwen_ledger_dead_letters_total           messages sent to the dead-letter topic
    shouwen_ledger_last_offset{partition}       the last case-events offset projected
    shouwen_ledger_last_projected_timestamp_seconds   when the last batch committed

Counted after the commit, except gap fills (counted when read, in the transaction).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.common.consumer import Outcome
from services.common.deadletter import Delivery

BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class LedgerMetrics:
    projected: Counter
    batches: Counter
    batch_seconds: Histogram
    gap_fills: Counter
    dead_letters: Counter
    last_offset: Gauge
    last_projected: Gauge

    def batch(self, deliveries: list[Delivery], outcomes: list[Outcome], seconds: float) -> None:
        self.batches.inc()
        self.batch_seconds.observe(seconds)
        self.projected.inc(sum(o is Outcome.handled for o in outcomes))
        self.dead_letters.inc(sum(o is Outcome.dead_lettered for o in outcomes))
        for d in deliveries:  # in delivery order: a partition's last is its highest
            self.last_offset.labels(partition=str(d.partition)).set(d.offset)
        self.last_projected.set(time.time())


def ledger_metrics(registry: CollectorRegistry) -> LedgerMetrics:
    def counter(name: str, doc: str) -> Counter:
        return Counter(f"shouwen_ledger_{name}", doc, registry=registry)

    return LedgerMetrics(
        projected=counter("events_projected", "Messages projected into the ledger"),
        batches=counter("batches", "Batches committed"),
        batch_seconds=Histogram("shouwen_ledger_batch_seconds", "One batch's transaction",
                                buckets=BATCH_BUCKETS, registry=registry),
        gap_fills=counter("gap_fills", "Cases whose missing versions were read from the store"),
        dead_letters=counter("dead_letters", "Messages sent to the dead-letter topic"),
        last_offset=Gauge("shouwen_ledger_last_offset", "Last case-events offset projected",
                          ("partition",), registry=registry),
        last_projected=Gauge("shouwen_ledger_last_projected_timestamp_seconds",
                             "Unix time the last batch committed", registry=registry),
    )
