"""The notification worker's Prometheus metrics, on a registry the caller gives.

    shouwen_notification_outcomes_total{channel, outcome}   sent | retry | failed | deferred
    shouwen_notification_uncertain_total{channel}            sent again after a crash lost
                                                            the mark, with no idempotency
                                                            key to stop a repeat (e-mail)
    shouwen_notification_resumed_total{channel}              records taken over 'sending':
                                                            their sender's session was gone
                                                            (or, hung, its lease had ended)
    shouwen_notification_dead_letters_total{channel}
    shouwen_notification_deadlocks_total                     rounds finished again at once
                                                            after a deadlock with another sender

Labels are channels and outcomes only: never an address, a phone number or a name.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from events.notification import NotifyChannel

OUTCOMES = ("sent", "retry", "failed", "deferred")


@dataclass(frozen=True)
class NotifyMetrics:
    outcomes: Counter
    uncertain: Counter
    resumed: Counter
    dead_letters: Counter
    deadlocks: Counter


def notify_metrics(registry: CollectorRegistry) -> NotifyMetrics:
    metrics = NotifyMetrics(
        outcomes=Counter("shouwen_notification_outcomes", "Delivery attempts by outcome",
                         ["channel", "outcome"], registry=registry),
        uncertain=Counter("shouwen_notification_uncertain",
                          "Messages sent again after a crash, possibly received twice",
                          ["channel"], registry=registry),
        resumed=Counter("shouwen_notification_resumed",
                        "Records taken over after their sender died mid-send",
                        ["channel"], registry=registry),
        dead_letters=Counter("shouwen_notification_dead_letters",
                             "Notifications given up on and dead-lettered", ["channel"],
                             registry=registry),
        deadlocks=Counter("shouwen_notification_deadlocks",
                          "Rounds whose finishing met a deadlock and was redone at once",
                          registry=registry),
    )
    # Every known label set shows from the start, at 0: increase() then sees the first
    # failure (a series born at 1 has no earlier sample to increase from).
    for channel in NotifyChannel:
        for outcome in OUTCOMES:
            metrics.outcomes.labels(channel.value, outcome)
        for counter in (metrics.uncertain, metrics.resumed, metrics.dead_letters):
            counter.labels(channel.value)
    return metrics
