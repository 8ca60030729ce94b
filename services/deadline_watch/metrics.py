"""deadline-watch's Prometheus metrics, on a registry the caller gives (tests use fresh ones).

    shouwen_deadline_open_timers                 pending timers (re-counted every 15 s)
    shouwen_deadline_warnings_total              deadline_warned appended
    shouwen_deadline_breaches_total              deadline_breached appended
    shouwen_deadline_escalations_total{step}     case.escalated appended, by ladder step
    shouwen_deadline_provisional_total           deadline_set appended with provisional=true
    shouwen_deadline_timers_failed_total         timers set aside as failed (poisoned case)
    shouwen_deadline_tick_seconds                one tick: claim, decide, append, settle
    shouwen_deadline_firing_lateness_seconds     fire_at -> the tick that fired it
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0, 300.0, 3600.0)
TICK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True)
class DeadlineMetrics:
    open_timers: Gauge
    warnings: Counter
    breaches: Counter
    escalations: Counter
    provisional: Counter
    failed: Counter
    tick_seconds: Histogram
    lateness: Histogram


def deadline_metrics(registry: CollectorRegistry) -> DeadlineMetrics:
    def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        return Counter(f"shouwen_deadline_{name}", doc, labels, registry=registry)

    return DeadlineMetrics(
        open_timers=Gauge("shouwen_deadline_open_timers", "Pending timers", registry=registry),
        warnings=counter("warnings", "Deadline warnings appended"),
        breaches=counter("breaches", "Deadline breaches appended"),
        escalations=counter("escalations", "Ladder escalations appended", ("step",)),
        provisional=counter("provisional", "Deadlines set on a provisional calendar year"),
        failed=counter("timers_failed", "Timers set aside as failed: their case raised"),
        tick_seconds=Histogram("shouwen_deadline_tick_seconds", "One timer-loop tick",
                               buckets=TICK_BUCKETS, registry=registry),
        lateness=Histogram("shouwen_deadline_firing_lateness_seconds",
                           "How long after its due instant a timer fired",
                           buckets=LATENESS_BUCKETS, registry=registry),
    )
