"""Many deliveries in ONE transaction: the same exactly-once contract, one commit per batch.

    deliveries ─reads.skipped─▶ known types the consumer does not read: set aside unopened
                                (no decode, verify or inbox row), acked with the batch and
                                counted; a batch of only these touches no database
    the others ─screen.decode─▶ rejected ones (undecodable, key-mismatch, unknown type or
                                version, upcast-failed) set aside as dead letters
    ONE transaction:
        screen.verify: every other event is in the store, hashing to its stored hash
                       (one query) ─ not? set aside as a dead letter, never handled
        SAVEPOINT  INSERT inbox rows for all ids ... RETURNING the fresh ones
                   handler(conn, fresh events, in delivery order)
        └─ raises: back to the savepoint, then each event in a savepoint of its own
           (inbox row + one-message handler): the one that raises is rolled back alone
           and set aside as "handler-failed"; the rest of the batch is applied
        every dead letter set aside: its dead_letters row (deadletter_store)
    COMMIT, then each dead letter to the topic (acked) before the batch is acked
        psycopg OperationalError / InterfaceError (the database away, a deadlock): the
        whole batch again, at once and then with backoff; never skipped

A commit is what costs most per message (WAL flush, round trips); routing does 3-6 small
statements per case, so sharing the commit is where the throughput is. Ordering within a
partition is kept: the batch is handled in delivery order, and the fallback too. A crash
after the commit and before the topic has a dead letter: the batch is not acked, comes
back, the handled ones are duplicates, the bad one is set aside again (same row).

Consumer plumbing shared by the faust workers that batch (routing, notification, the ledger:
``faust_batch.batch_agent``); kept here, beside the one-message InboxHandling.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from uuid import UUID

import psycopg

from events import CloudEvent
from services.common import deadletter_store, inbox, screen, tracing
from services.common.backoff import TRANSIENT_DB
from services.common.consumer import (
    ConnectionSource,
    InboxHandling,
    Outcome,
    describe,
    masked_data,
)
from services.common.deadletter import Delivery
from services.common.screen import Rejected

log = logging.getLogger(__name__)

BatchHandler = Callable[[psycopg.Connection, list[CloudEvent]], None]
Letters = dict[int, tuple[str, BaseException]]  # delivery index -> (reason, error)

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
        rejected: Letters = {}
        decoded: dict[int, tuple[CloudEvent, CloudEvent]] = {}
        skipped: dict[int, str] = {}
        reads = self.single.reads
        for i, delivery in enumerate(deliveries):
            event_type = reads.skipped(delivery)
            if event_type is not None:
                skipped[i] = event_type
                continue
            try:
                decoded[i] = screen.decode(delivery)
            except Rejected as exc:
                rejected[i] = (exc.reason, exc)
        outcomes: dict[int, Outcome] = {}
        letters: Letters = {}
        if decoded or rejected:
            outcomes, letters = self.single.backoff.run(
                lambda: self._once(deliveries, decoded, rejected, connection),
                what=f"{self.name}: handling a batch of {len(deliveries)}", stop=stop,
            )
        for i, (reason, error) in sorted(letters.items()):
            self.single.send_letter(deliveries[i], reason, error, stop)
            outcomes[i] = Outcome.dead_lettered
        for i, event_type in skipped.items():  # counted once the batch is done
            outcomes[i] = Outcome.skipped
            self.single.count_skipped(event_type)
        return [outcomes[i] for i in range(len(deliveries))]

    def _once(
        self, deliveries: list[Delivery], decoded: dict[int, tuple[CloudEvent, CloudEvent]],
        rejected: Letters, connection: ConnectionSource,
    ) -> tuple[dict[int, Outcome], Letters]:
        letters = dict(rejected)
        with tracing.handling_batch(self.name, [e for _, e in decoded.values()]), \
                connection() as conn, conn.transaction():
            problems = screen.verify(conn, [raw for raw, _ in decoded.values()])
            ok: list[tuple[int, CloudEvent]] = []
            for (i, (_, event)), problem in zip(decoded.items(), problems, strict=True):
                if problem is not None:
                    letters[i] = (problem.reason, problem)
                else:
                    ok.append((i, event))
            try:
                with conn.transaction():  # a savepoint: the whole batch at once
                    outcomes = self._together(conn, ok)
            except TRANSIENT_DB:
                raise
            except Exception as exc:
                log.warning("%s: a batch of %d failed (%s); handling it event by event",
                            self.name, len(ok), type(exc).__name__)
                outcomes = self._one_by_one(conn, ok, letters, deliveries)
            for i, (reason, error) in letters.items():
                deadletter_store.record(conn, deliveries[i], consumer=self.name,
                                        reason=reason, error=error)
        return outcomes, letters

    def _together(
        self, conn: psycopg.Connection, ok: list[tuple[int, CloudEvent]]
    ) -> dict[int, Outcome]:
        fresh = record_many(conn, self.name, [e.id for _, e in ok]) if ok else set()
        outcomes: dict[int, Outcome] = {}
        todo, seen = [], set()
        for i, event in ok:
            first = event.id in fresh and event.id not in seen
            outcomes[i] = Outcome.handled if first else Outcome.duplicate
            seen.add(event.id)
            if first:
                todo.append(event)
            else:
                log.info("%s: %s was handled before; nothing to do", self.name, describe(event))
        if todo:
            self.handler(conn, todo)
        return outcomes

    def _one_by_one(
        self, conn: psycopg.Connection, ok: list[tuple[int, CloudEvent]], letters: Letters,
        deliveries: list[Delivery],
    ) -> dict[int, Outcome]:
        outcomes: dict[int, Outcome] = {}
        for i, event in ok:
            try:
                with conn.transaction():  # a savepoint per event
                    fresh = inbox.record(conn, self.name, event.id)
                    if fresh:
                        self.single.handler(conn, event)
                outcomes[i] = Outcome.handled if fresh else Outcome.duplicate
            except TRANSIENT_DB:
                raise
            except Exception as exc:
                log.error("%s: handler failed on %s at %s (%s); data, masked: %s", self.name,
                          describe(event), deliveries[i].where(), type(exc).__name__,
                          masked_data(event))
                letters[i] = ("handler-failed", exc)
        return outcomes
