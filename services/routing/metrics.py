"""The routing worker's Prometheus metrics, on a registry the caller gives (tests use fresh ones).

    shouwen_routing_received_total            case.received events routed (decided on)
    shouwen_routing_decisions_total{kind}     decisions appended: classified | referred |
                                              escalated | matter_suggested
    shouwen_routing_conflicts_total           cases that changed while being routed (re-routed)
    shouwen_routing_batches_total             batches committed (the batch agent)
    shouwen_routing_batch_seconds             one batch: its transaction, start to commit
    shouwen_routing_dead_letters_total        messages sent to the dead-letter topic

Served by ``services.common.metrics.serve_metrics`` (as the ledger worker's metrics are).

Received and decisions are counted when the handler's work is done in its transaction (a
commit that fails after it, rare, redoes the messages one by one and may count them again);
batches and dead letters after the commit. Labels are decision kinds only, never a person.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from events import CloudEvent
from services.common.consumer import Outcome
from services.common.deadletter import Delivery

BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
KINDS = ("classified", "referred", "escalated")


@dataclass(frozen=True)
class RoutingMetrics:
    received: Counter
    decisions: Counter
    conflicts: Counter
    batches: Counter
    batch_seconds: Histogram
    dead_letters: Counter

    def routed(self, received: int, decisions: Iterable[CloudEvent]) -> None:
        self.received.inc(received)
        for event in decisions:
            self.decisions.labels(kind=decision_kind(event.type)).inc()

    def batch(self, deliveries: list[Delivery], outcomes: list[Outcome], seconds: float) -> None:
        self.batches.inc()
        self.batch_seconds.observe(seconds)
        self.dead_letters.inc(sum(o is Outcome.dead_lettered for o in outcomes))


def decision_kind(event_type: str) -> str:
    """``shouwen.case.referred.v1`` -> ``referred``."""
    return event_type.split(".")[2]


def routing_metrics(registry: CollectorRegistry) -> RoutingMetrics:
    def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        return Counter(f"shouwen_routing_{name}", doc, labels, registry=registry)

    metrics = RoutingMetrics(
        received=counter("received", "case.received events routed"),
        decisions=counter("decisions", "Routing decisions appended, by kind", ("kind",)),
        conflicts=counter("conflicts", "Cases that changed while routing them (re-routed)"),
        batches=counter("batches", "Batches committed"),
        batch_seconds=Histogram("shouwen_routing_batch_seconds", "One batch's transaction",
                                buckets=BATCH_BUCKETS, registry=registry),
        dead_letters=counter("dead_letters", "Messages sent to the dead-letter topic"),
    )
    for kind in KINDS:  # every kind shows from the start, at 0
        metrics.decisions.labels(kind=kind)
    return metrics
