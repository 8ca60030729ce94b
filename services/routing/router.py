"""Routing one received case inside the consumer's transaction: load, decide, append.

    Router.handle(conn, event)          the inbox handler (faust_base / consumer contract)
      └─ not shouwen.case.received ─▶ nothing
         route(conn, received)
           read the case's stream ─ a routing event already caused by this one? ─▶ nothing
           fold ─▶ classify(matter) ─▶ open cases of the handling section's staff
           ─▶ rules.decide ─▶ CloudEvents: actor service:routing, causation = the received
              event, correlation = the case's, id = uuid5(received id, index)
           ─▶ CaseRepository.append(expected version = what was read)
                WrongExpectedVersion: someone acted meanwhile ─▶ read again, decide again
                (usually nothing: a person acting takes the case out of routing's hands)

Idempotent three times over: the inbox (same event id), the causation check (a re-run under
another consumer name or after the inbox was pruned), and the deterministic event ids (the
store treats a re-appended id as a no-op). ``OpenCounts`` caches the load per staff member
for one transaction and counts the referrals made in it, so a batch spreads its cases.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import psycopg
from psycopg.rows import dict_row

from events import CloudEvent, new_event
from events.case import CaseReceived
from events.registry import EventPayload
from services.cases.repository import CaseNotFound, CaseRepository
from services.common.eventstore import RecordedEvent, WrongExpectedVersion, row_to_recorded
from services.domain.case import CaseState, fold
from services.routing.classify import classify
from services.routing.rules import decide, section_staff

if TYPE_CHECKING:
    from services.directory.index import DirectoryIndex

log = logging.getLogger(__name__)

CONSUMER = "routing"
ACTOR = "service:routing"
SOURCE = "urn:shouwen:routing"
RECEIVED = CaseReceived.event_type
# Decision ids are uuid5(DECISIONS, "<received event id>/<index>"): a re-run makes the same ids.
DECISIONS = uuid.UUID("5e0a7c1e-0000-4000-8000-000000000003")
ATTEMPTS = 5
# A case is someone's open work while they handle it or it waits for them to accept the
# handoff, until it is completed (then only delivery and closing remain) or referred out.
# Two index look-ups (handler, handoff; migration 0005), never a scan of every case.
OPEN_WORK = ["received", "awaiting_materials", "awaiting_handoff", "in_handling", "replied"]
_OPEN_LOAD = """
SELECT who, count(*) FROM (
    SELECT handler_id AS who FROM case_index
    WHERE handler_id = ANY(%(ids)s) AND status = ANY(%(open)s) AND awaiting_handoff_to IS NULL
    UNION ALL
    SELECT awaiting_handoff_to FROM case_index
    WHERE awaiting_handoff_to = ANY(%(ids)s) AND status = ANY(%(open)s)) AS work
GROUP BY who
"""


_READ_STREAMS = (
    "SELECT position, event_id, stream_id, version, type, source, time, dataschema, actor,"
    " causation_id, correlation_id, data, prev_hash, hash, recorded_at"
    " FROM events WHERE stream_id = ANY(%s) ORDER BY stream_id, version"
)


class NoDirectory(RuntimeError):
    """No directory is in force: nothing to route by (load one with `shouwen directory load`)."""


class RoutingConflict(RuntimeError):
    """The case kept changing under routing; the message goes to the dead-letter topic."""


def decision_id(received_id: uuid.UUID, index: int) -> uuid.UUID:
    return uuid.uuid5(DECISIONS, f"{received_id}/{index}")


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
            for who, n in self.conn.execute(_OPEN_LOAD, {"ids": missing, "open": OPEN_WORK}):
                self.counts[who] = int(n)
            self.known.update(missing)
        return {s: self.counts.get(s, 0) for s in wanted}

    def assigned(self, staff_id: str) -> None:
        self.counts[staff_id] = self.counts.get(staff_id, 0) + 1


def read_streams(conn: psycopg.Connection, case_ids: list[str]) -> dict[str, list[RecordedEvent]]:
    """Several cases' streams in one query (a batch's worth), each in version order."""
    streams: dict[str, list[RecordedEvent]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_READ_STREAMS, (sorted(set(case_ids)),))
        for row in cur:
            streams.setdefault(row["stream_id"], []).append(row_to_recorded(row))
    return streams


def already_routed(recorded: list[RecordedEvent], received_id: uuid.UUID) -> bool:
    return any(r.event.causationid == received_id and r.event.actor == ACTOR for r in recorded)


class Router:
    def __init__(
        self, repo: CaseRepository, directory: Callable[[], DirectoryIndex | None]
    ) -> None:
        self.repo, self.directory = repo, directory

    def handle(self, conn: psycopg.Connection, event: CloudEvent) -> None:
        if event.type == RECEIVED:
            self.route(conn, event)

    def handle_batch(self, conn: psycopg.Connection, events: list[CloudEvent]) -> None:
        """Route every received event of a batch in the caller's one transaction: the
        streams are read in one query and the open-case counts once per section."""
        received = [e for e in events if e.type == RECEIVED]
        if not received:
            return
        streams = read_streams(conn, [e.subject for e in received])
        counts = OpenCounts(conn)
        for event in received:
            self.route(conn, event, counts, streams.get(event.subject, []))

    def route(
        self,
        conn: psycopg.Connection,
        received: CloudEvent,
        counts: OpenCounts | None = None,
        recorded: list[RecordedEvent] | None = None,
    ) -> list[CloudEvent]:
        """Append routing's decisions on ``received``'s case; returns what was appended.
        ``recorded``: the case's stream as just read in this transaction, if at hand."""
        directory = self.directory()
        if directory is None:
            raise NoDirectory("no directory is in force: load one with `shouwen directory load`")
        counts = counts or OpenCounts(conn)
        for _ in range(ATTEMPTS):
            recorded = recorded or self.repo.store.read_stream(received.subject, conn=conn)
            if not recorded:
                raise CaseNotFound(f"case {received.subject} is not in the event store")
            if already_routed(recorded, received.id):
                return []
            state = fold(received.subject, [r.event for r in recorded])
            events = self.decisions(state, received, directory, counts)
            if not events:
                return []
            try:
                self.repo.append(state, events, conn)
            except WrongExpectedVersion:
                log.info("case %s changed while routing it; looking again", received.subject)
                recorded = None
                continue
            for referred_to in _handlers(events):
                counts.assigned(referred_to)
            return events
        raise RoutingConflict(f"case {received.subject} changed {ATTEMPTS} times while routing")

    def decisions(
        self, state: CaseState, received: CloudEvent, directory: DirectoryIndex,
        counts: OpenCounts,
    ) -> list[CloudEvent]:
        """What routing would append to this case now (nothing written)."""
        classification = classify(str(received.data.get("matter", "")), directory)
        section = classification.section_id
        load = counts.of(p.staff.id for p in section_staff(directory, section)) if section else {}
        return self._events(received, decide(state, classification, directory, load))

    @staticmethod
    def _events(received: CloudEvent, payloads: list[EventPayload]) -> list[CloudEvent]:
        correlation = received.correlationid or received.id
        return [
            new_event(p, subject=received.subject, actor=ACTOR, source=SOURCE,
                      causationid=received.id, correlationid=correlation,
                      id=decision_id(received.id, i))
            for i, p in enumerate(payloads)
        ]


def _handlers(events: list[CloudEvent]) -> list[str]:
    return [e.data["referral"]["handler"]["id"] for e in events
            if e.type.startswith("shouwen.case.referred.") and e.data["referral"]["kind"]
            == "internal"]
