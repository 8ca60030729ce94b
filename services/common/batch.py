"""Many deliveries in ONE transaction: the same exactly-once contract, one commit per batch.

    deliveries ─decode + upcast─▶ any undecodable? ─▶ the whole batch one by one (below)
        ONE transaction:  INSERT inbox rows for all ids ... RETURNING the fresh ones
                          handler(conn, fresh events, in delivery order)
        ├─ psycopg OperationalError / InterfaceError: Backoff retries the batch, never skips
        └─ any other error: rolled back, then every delivery goes through InboxHandling one
           by one (its own transaction, or the dead-letter topic), so one bad message costs
           its batch the speed-up, never its neighbours their effects

A commit is what costs most per message (WAL flush, round trips); routing does 3-6 small
statements per case, so sharing the commit is where the throughput is. Ordering within a
partition is kept: the batch is handled in delivery order, and the fallback too.

Consumer plumbing shared by the faust workers that batch (routing, notification, the ledger:
``faust_batch.batch_agent``); kept here, beside the one-message InboxHandling it falls back to.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from uuid import UUID

import psycopg

from events import CloudEvent, upcast
from events.kafka import from_kafka
from services.common import tracing
from services.common.backoff import Stopped
from services.common.consumer import ConnectionSource, InboxHandling, Outcome, describe
from services.common.deadletter import Delivery

log = logging.getLogger(__name__)

BatchHandler = Callable[[psycopg.Connection, list[CloudEvent]], None]

_RECORD_MANY = (
    "INSERT INTO inbox (consumer, event_id) SELECT %s, unnest(%s::uuid[])"
    " ON CONFLICT DO NOTHING RETURNING event_id"
)


def record_many(conn: psycopg.Connection, consumer: str, ids: list[UUID]) -> set[UUID]:
    """The inbox for a batch: mark every id handled; returns those not handled before."""
    return {r[0] for r in conn.execute(_RECORD_MANY, (consumer, ids))}


class BatchHandling:
    def __init__(self, single: InboxHandling, handler: BatchHandler) -> None:
        self.single, self.handler = single, handler

    @property
    def name(self) -> str:
        return self.single.name

    def process(
        self,
        deliveries: list[Delivery],
        connection: ConnectionSource,
        *,
        stop: threading.Event | None = None,
    ) -> list[Outcome]:
        events = _decoded(deliveries)
        if events is None:
            return self._one_by_one(deliveries, connection, stop)
        try:
            fresh = self.single.backoff.run(
                lambda: self._once(events, connection),
                what=f"{self.name}: handling a batch of {len(events)}", stop=stop,
            )
        except Stopped:
            raise
        except Exception as exc:
            log.warning("%s: a batch of %d failed (%s); handling it one by one", self.name,
                        len(events), type(exc).__name__)
            return self._one_by_one(deliveries, connection, stop)
        outcomes, seen = [], set()
        for event in events:
            first = event.id in fresh and event.id not in seen
            outcomes.append(Outcome.handled if first else Outcome.duplicate)
            seen.add(event.id)
            if not first:
                log.info("%s: %s was handled before; nothing to do", self.name, describe(event))
        return outcomes

    def _once(self, events: list[CloudEvent], connection: ConnectionSource) -> set[UUID]:
        with tracing.handling_batch(self.name, events), connection() as conn, \
                conn.transaction():
            fresh = record_many(conn, self.name, [e.id for e in events])
            todo, seen = [], set()
            for event in events:
                if event.id in fresh and event.id not in seen:
                    todo.append(event)
                    seen.add(event.id)
            if todo:
                self.handler(conn, todo)
        return fresh

    def _one_by_one(
        self, deliveries: list[Delivery], connection: ConnectionSource,
        stop: threading.Event | None,
    ) -> list[Outcome]:
        return [self.single.process(d, connection, stop=stop) for d in deliveries]


def _decoded(deliveries: list[Delivery]) -> list[CloudEvent] | None:
    try:
        return [upcast(from_kafka(d.value, d.headers)) for d in deliveries]
    except Exception:  # undecodable or not upcastable: InboxHandling dead-letters it
        return None
