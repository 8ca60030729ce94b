"""Routing one received case inside the consumer's transaction: load, decide, append.

    Router.handle(conn, event)          the inbox handler (faust_base / consumer contract)
      ├─ matter_chosen ─▶ learning.record_choice (outcome row, proposed example phrasing)
      ├─ accepted under another matter ─▶ learning.record_acceptance (the same, a correction)
      └─ not shouwen.case.received ─▶ nothing (READS: these three types; the worker
         acks the others unopened)
         route(conn, received)
           read the case's stream ─ a routing event already caused by this one? ─▶ nothing
           fold ─▶ classify(matter) ─▶ open cases of the handling section's staff
           ─▶ rules.decide ─▶ CloudEvents: actor service:routing, causation = the received
              event, correlation = the case's, id = uuid5(received id, index)
           ─▶ CaseRepository.append(expected version = what was read)
           ─▶ learning.record_outcomes: the case's routing_outcomes row
                WrongExpectedVersion: someone acted meanwhile ─▶ read again, decide again
                (usually nothing: a person acting takes the case out of routing's hands)

    Router.handle_batch(conn, events)   the batch agent's handler, one transaction a batch
      every case's head in one query: a case whose only event is the received one in hand
      is folded from it, the others are read whole (one more query) ─▶ decide each in
      Python (as route does) ─▶ CaseRepository.append_many: one INSERT for every case's
      decisions, one index upsert ─▶ the cases that changed meanwhile (none of their
      decisions written): route(), one by one, in delivery order

Idempotent three times over: the inbox (same event id), the causation check (a re-run under
another consumer name or after the inbox was pruned), and the deterministic event ids (the
store treats a re-appended id as a no-op). ``OpenCounts`` caches the load per staff member
for one transaction and counts the referrals made in it, so a batch spreads its cases.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import psycopg

from events import CloudEvent, new_event
from events.case import CaseReceived
from events.registry import EventPayload
from services.cases import index as case_index
from services.cases.repository import CaseNotFound, CaseRepository
from services.common.eventstore import (
    RecordedEvent,
    WrongExpectedVersion,
    read_streams,
    stream_heads,
)
from services.common.reads import Reads
from services.domain.case import CaseState, fold
from services.routing.classify import classify
from services.routing.learning import (
    ACCEPTED,
    CHOSEN,
    Learned,
    outcome_rows,
    record_acceptance,
    record_choice,
    record_outcomes,
)
from services.routing.rules import decide, refer_chosen, section_staff

if TYPE_CHECKING:
    from services.directory.index import DirectoryIndex
    from services.routing.metrics import RoutingMetrics

log = logging.getLogger(__name__)

CONSUMER = "routing"
ACTOR = "service:routing"
SOURCE = "urn:shouwen:routing"
RECEIVED = CaseReceived.event_type
# The types handle / handle_batch do something with; every other one is acked unopened
# (services/common/reads.py). tests/unit/test_consumer_reads.py keeps this true.
READS = Reads.types([RECEIVED, CHOSEN, ACCEPTED])
# Decision ids are uuid5(DECISIONS, "<received event id>/<index>"): a re-run makes the same ids.
DECISIONS = uuid.UUID("5e0a7c1e-0000-4000-8000-000000000003")
ATTEMPTS = 5
# A case is someone's open work while they handle it or it waits for them to accept the
# handoff, until it is completed (then only delivery and closing remain) or referred out.
# services/cases/index.open_load: two index look-ups, never a scan of every case.
OPEN_WORK = ["received", "awaiting_materials", "awaiting_handoff", "in_handling", "replied"]


class NoDirectory(RuntimeError):
    """No directory is in force: nothing to route by (load one with `shouwen directory load`)."""


class RoutingConflict(RuntimeError):
    """The case kept changing under routing; the message goes to the dead-letter topic."""


def decision_id(received_id: uuid.UUID, index: int) -> uuid.UUID:
    return uuid.uuid5(DECISIONS, f"{received_id}/{index}")


def decision_ids(received_id: uuid.UUID, n: int) -> list[uuid.UUID]:
    """``[decision_id(received_id, i) for i in range(n)]``, the common prefix hashed once
    and the version and variant bits set on the integer (``uuid.uuid5``'s own steps)."""
    prefix = hashlib.sha1(_DECISIONS_BYTES + f"{received_id}/".encode())
    ids = []
    for i in range(n):
        digest = prefix.copy()
        digest.update(b"%d" % i)
        number = int.from_bytes(digest.digest()[:16])
        ids.append(uuid.UUID(int=number & _KEEP | _VERSION_5))
    return ids


_DECISIONS_BYTES = DECISIONS.bytes
_KEEP = ~((0xF000 << 64) | (0xC000 << 48)) & (2**128 - 1)  # clear the version and variant
_VERSION_5 = (5 << 76) | (0x8000 << 48)  # version 5, RFC 4122 variant


class OpenCounts:
    """Open cases per staff member, read once per transaction, plus referrals made in it."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.counts: dict[str, int] = {}
        self.known: set[str] = set()

    def of(self, staff_ids: Iterable[str]) -> dict[str, int]:
        wanted = set(staff_ids)
        missing = sorted(wanted - self.known)
        if missing:
            self.counts.update(case_index.open_load(self.conn, missing, OPEN_WORK))
            self.known.update(missing)
        return {s: self.counts.get(s, 0) for s in wanted}

    def assigned(self, staff_id: str, n: int = 1) -> None:
        self.counts[staff_id] = self.counts.get(staff_id, 0) + n


def already_routed(stream: list[CloudEvent], received_id: uuid.UUID) -> bool:
    return any(e.causationid == received_id and e.actor == ACTOR for e in stream)


def case_events(
    conn: psycopg.Connection, received: list[CloudEvent]
) -> dict[str, list[CloudEvent]]:
    """The batch's cases' events. A case whose one event is the received event in hand (the
    usual case: routing comes first) is not read back: the store is append-only, so the
    event of that id is this one. The others are read whole, in one query."""
    heads = stream_heads(conn, [e.subject for e in received])
    streams: dict[str, list[CloudEvent]] = {}
    for event in received:
        if heads.get(event.subject) == (1, event.id):
            streams[event.subject] = [event.with_sequence(1)]
    others = [s for s in heads if s not in streams]
    if others:
        for stream_id, recorded in read_streams(conn, others).items():
            streams[stream_id] = [r.event for r in recorded]
    return streams


class Router:
    def __init__(
        self, repo: CaseRepository, directory: Callable[[], DirectoryIndex | None],
        metrics: RoutingMetrics | None = None, learned: Callable[[], Learned] | None = None,
    ) -> None:
        self.repo, self.directory, self.metrics = repo, directory, metrics
        self.learned = learned or (lambda: ())

    def handle(self, conn: psycopg.Connection, event: CloudEvent) -> None:
        if event.type == RECEIVED:
            decided = self.route(conn, event)
            record_outcomes(conn, outcome_rows([(event.subject, decided)]))
            if self.metrics is not None:
                self.metrics.routed(1, decided)
        elif event.type == CHOSEN:
            record_choice(conn, event, self.directory())
            self.refer_chosen(conn, event)
        elif event.type == ACCEPTED:
            record_acceptance(conn, event, self.directory())

    def handle_batch(self, conn: psycopg.Connection, events: list[CloudEvent]) -> None:
        """Route every received event of a batch in the caller's one transaction: the
        cases read together, the open-case counts once per section, every case's decisions
        appended together; a case that changed meanwhile is routed again on its own."""
        received = [e for e in events if e.type == RECEIVED]
        if received:
            self._route_batch(conn, received)
        for event in events:
            if event.type == CHOSEN:
                record_choice(conn, event, self.directory())
                self.refer_chosen(conn, event)
            elif event.type == ACCEPTED and event.data.get("matter_type_code"):
                record_acceptance(conn, event, self.directory())

    def _route_batch(self, conn: psycopg.Connection, received: list[CloudEvent]) -> None:
        directory = self._directory()
        streams = case_events(conn, received)
        counts = OpenCounts(conn)
        plans: dict[str, tuple[CloudEvent, CaseState, list[CloudEvent]]] = {}
        again: list[CloudEvent] = []
        for event in received:
            if event.subject in plans:  # another received event of a case: after the first
                again.append(event)
                continue
            stream = streams.get(event.subject)
            if not stream:
                raise CaseNotFound(f"case {event.subject} is not in the event store")
            if already_routed(stream, event.id):
                continue
            state = fold(event.subject, stream)
            decided = self.decisions(state, event, directory, counts)
            if decided:
                plans[event.subject] = (event, state, decided)
                _count(counts, decided, 1)
        appended = self.repo.append_many([(s, d) for _, s, d in plans.values()], conn)
        for case_id in appended.conflicts:
            log.info("case %s changed while routing it; looking again", case_id)
            event, _, decided = plans[case_id]
            _count(counts, decided, -1)
            again.append(event)
            del plans[case_id]
            self._conflict()
        decisions = [e for _, _, d in plans.values() for e in d]
        outcomes = [(case_id, d) for case_id, (_, _, d) in plans.items()]
        for event in sorted(again, key=received.index):
            decided = self.route(conn, event, counts)
            decisions += decided
            outcomes.append((event.subject, decided))
        record_outcomes(conn, outcome_rows(outcomes))
        if self.metrics is not None:
            self.metrics.routed(len(received), decisions)

    def route(
        self,
        conn: psycopg.Connection,
        received: CloudEvent,
        counts: OpenCounts | None = None,
        recorded: list[RecordedEvent] | None = None,
    ) -> list[CloudEvent]:
        """Append routing's decisions on ``received``'s case; returns what was appended.
        ``recorded``: the case's stream as just read in this transaction, if at hand."""
        directory = self._directory()
        counts = counts or OpenCounts(conn)
        for _ in range(ATTEMPTS):
            recorded = recorded or self.repo.store.read_stream(received.subject, conn=conn)
            if not recorded:
                raise CaseNotFound(f"case {received.subject} is not in the event store")
            if already_routed([r.event for r in recorded], received.id):
                return []
            state = fold(received.subject, [r.event for r in recorded])
            events = self.decisions(state, received, directory, counts)
            if not events:
                return []
            try:
                self.repo.append(state, events, conn)
            except WrongExpectedVersion:
                log.info("case %s changed while routing it; looking again", received.subject)
                self._conflict()
                recorded = None
                continue
            _count(counts, events, 1)
            return events
        raise RoutingConflict(f"case {received.subject} changed {ATTEMPTS} times while routing")

    def refer_chosen(self, conn: psycopg.Connection, chosen: CloudEvent) -> list[CloudEvent]:
        """A person chose the case's matter: refer it to the handling section as a confident
        classification would, if the choice is still the case's last event (anyone acting
        after it leads the case). Idempotent like route (causation, uuid5 ids)."""
        directory = self.directory()
        matter = directory.matters.get(chosen.data["matter_type_code"]) if directory else None
        if directory is None or matter is None:
            return []
        recorded = self.repo.store.read_stream(chosen.subject, conn=conn)
        stream = [r.event for r in recorded]
        if not stream or stream[-1].id != chosen.id or already_routed(stream, chosen.id):
            return []
        state = fold(chosen.subject, stream)
        counts = OpenCounts(conn)
        load = counts.of(p.staff.id for p in section_staff(directory, matter.section)) \
            if matter.section else {}
        events = self._events(chosen, refer_chosen(state, matter, directory, load))
        if not events:
            return []
        try:
            self.repo.append(state, events, conn)
        except WrongExpectedVersion:  # someone acted meanwhile: theirs to lead
            log.info("case %s changed after its matter was chosen; not referring", chosen.subject)
            return []
        return events

    def _conflict(self) -> None:
        if self.metrics is not None:
            self.metrics.conflicts.inc()

    def _directory(self) -> DirectoryIndex:
        directory = self.directory()
        if directory is None:
            raise NoDirectory("no directory is in force: load one with `shouwen directory load`")
        return directory

    def decisions(
        self, state: CaseState, received: CloudEvent, directory: DirectoryIndex,
        counts: OpenCounts,
    ) -> list[CloudEvent]:
        """What routing would append to this case now (nothing written)."""
        classification = classify(str(received.data.get("matter", "")), directory,
                                  self.learned())
        section = classification.section_id
        load = counts.of(p.staff.id for p in section_staff(directory, section)) if section else {}
        return self._events(received, decide(state, classification, directory, load))

    @staticmethod
    def _events(received: CloudEvent, payloads: list[EventPayload]) -> list[CloudEvent]:
        correlation = received.correlationid or received.id
        return [
            new_event(p, subject=received.subject, actor=ACTOR, source=SOURCE,
                      causationid=received.id, correlationid=correlation, id=id)
            for p, id in zip(payloads, decision_ids(received.id, len(payloads)), strict=True)
        ]


def _count(counts: OpenCounts, events: list[CloudEvent], n: int) -> None:
    """Count (n=1) or uncount (n=-1) the cases these decisions refer to handlers."""
    for referred_to in _handlers(events):
        counts.assigned(referred_to, n)


def _handlers(events: list[CloudEvent]) -> list[str]:
    return [e.data["referral"]["handler"]["id"] for e in events
            if e.type.startswith("shouwen.case.referred.") and e.data["referral"]["kind"]
            == "internal"]
