"""Load a case and append to it, keeping ``case_index`` in the same transaction.

    load(case_id)                       -> CaseState (folded from the stream)
    append(state, events, conn=None)    -> new CaseState; optimistic on state.version
    await append_async(state, event, conn)   one event on an async (autocommit) connection:
                                        the event and its index row in ONE statement
    append_many([(state, events), ...], conn)
                                        -> CasesAppended: new states, and the cases that
                                           changed meanwhile (nothing written for those);
                                           one INSERT for all events, one index upsert batch
    append_bookkeeping({case: events}, conn)
                                        events that change no state (notification_sent):
                                           at each stream's head, nothing read or folded
    open_case(received_event, access_code, conn)    the first event, the index row and
    await open_case_async(received_event, ...)      the citizen's hashed access code: ONE
                                                    statement, so atomic on its own (an
                                                    autocommit connection: one round trip)

Every writer (intake, routing, deadline-watch) appends through here, so the index never
disagrees with the store.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg.types.json import Json
from psycopg_pool import ConnectionPool

from events import CloudEvent
from services.common import tracing
from services.common.eventstore import (
    GENESIS,
    EventStore,
    EventStoreError,
    WrongExpectedVersion,
    append_one_and_async,
    hashed,
    stored_data,
    stream_heads,
    stream_version_async,
    validate,
)
from services.common.pii import SealKey, personal_data, sealed
from services.domain.case import CaseState, apply, changes_state, fold

ACCESS_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I
RECEIPT_BLOCK = 20


def new_access_code() -> str:
    return "".join(secrets.choice(ACCESS_CODE_ALPHABET) for _ in range(10))


def hash_access_code(code: str) -> bytes:
    return hashlib.sha256(b"shouwen-access:" + code.strip().upper().encode()).digest()


class CaseNotFound(LookupError):
    pass


@dataclass(frozen=True)
class CasesAppended:
    """``states``: each appended case as it is now. ``conflicts``: cases someone else acted
    on since their state was read; nothing was written for them (load and decide again)."""

    states: dict[str, CaseState]
    conflicts: dict[str, WrongExpectedVersion]


class CaseRepository:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.store = EventStore(pool)
        self._receipts: list[int] = []
        self._receipts_lock = threading.Lock()

    def load(self, case_id: str, conn: psycopg.Connection | None = None) -> CaseState:
        recorded = self.store.read_stream(case_id, conn=conn)
        if not recorded:
            raise CaseNotFound(case_id)
        return fold(case_id, [r.event for r in recorded])

    def next_receipt_number(self, conn: psycopg.Connection, when: datetime | None = None) -> str:
        """A unique receipt number. Sequence values are taken RECEIPT_BLOCK at a time (one
        round trip per block, not per inquiry): unique across processes, in issue order
        within one; a restart leaves a gap, as a sequence does anyway."""
        with self._receipts_lock:
            if not self._receipts:
                rows = conn.execute(_RECEIPT_BLOCK, (RECEIPT_BLOCK,)).fetchall()
                self._receipts = sorted((int(r[0]) for r in rows), reverse=True)
            number = self._receipts.pop()
        return _receipt(number, when)

    async def next_receipt_number_async(self, conn: AsyncConnection[Any]) -> str:
        """``next_receipt_number`` on an async connection (the lock is never held across
        the round trip: a block fetched meanwhile by another task is merged in)."""
        while True:
            with self._receipts_lock:
                if self._receipts:
                    return _receipt(self._receipts.pop(), None)
            cur = await conn.execute(_RECEIPT_BLOCK, (RECEIPT_BLOCK,))
            fetched = [int(r[0]) for r in await cur.fetchall()]
            with self._receipts_lock:
                self._receipts = sorted([*self._receipts, *fetched], reverse=True)

    def open_case(
        self, received: CloudEvent, access_code: str, conn: psycopg.Connection
    ) -> CaseState:
        """Append the received event as version 1 of a new stream, index the case and
        store the hashed access code, inside the caller's transaction if one is open.
        A case that exists already: UniqueViolation, nothing written."""
        seal = personal_data().key_for_received(conn, received)
        state, params = _opening(received, access_code, seal)
        conn.execute(_OPEN_CASE, params)
        tracing.record(conn, [received.id], [received.causationid])  # off: nothing
        return state

    async def open_case_async(
        self, received: CloudEvent, access_code: str, conn: AsyncConnection[Any]
    ) -> CaseState:
        seal = await personal_data().key_for_received_async(conn, received)
        state, params = _opening(received, access_code, seal)
        await conn.execute(_OPEN_CASE, params)
        await tracing.record_async(conn, [received.id], [received.causationid])  # off: nothing
        return state

    def append(
        self, state: CaseState, events: Sequence[CloudEvent], conn: psycopg.Connection
    ) -> CaseState:
        """Append ``events`` if the case is still at ``state.version``; raises
        WrongExpectedVersion if someone else acted on it meanwhile. The common case, one
        event in the caller's transaction (a staff action), writes the event and the index
        row in ONE statement."""
        if len(events) == 1 and conn.info.transaction_status == TransactionStatus.INTRANS:
            event = events[0]
            new = apply(state, event.with_sequence(state.version + 1))
            index = _index_params(new, event.time)
            one = self.store.append_one_and(
                state.case_id, event, state.version, _INDEX_AFTER_INSERT,
                [index[c] for c in _INDEX_ORDER], conn=conn)
            if one is not None:
                return new
        recorded = self.store.append(state.case_id, events, state.version, conn=conn)
        new = state
        for r in recorded:
            new = apply(new, r.event)
        _upsert_index(conn, new, recorded[-1].event.time if recorded else datetime.now(UTC))
        return new

    async def append_async(
        self, state: CaseState, event: CloudEvent, conn: AsyncConnection[Any]
    ) -> CaseState:
        """``append`` of ONE event on an async connection (autocommit: intake's staff
        actions, no thread hop): the event at ``state.version`` + 1 and its index row in
        ONE statement, atomic on its own. WrongExpectedVersion when the case moved on
        since ``state`` was read (nothing written)."""
        new = apply(state, event.with_sequence(state.version + 1))
        index = _index_params(new, event.time)
        one = await append_one_and_async(
            conn, state.case_id, event, state.version, _INDEX_AFTER_INSERT,
            [index[c] for c in _INDEX_ORDER])
        if one is None:
            actual = await stream_version_async(conn, state.case_id)
            if actual == state.version:  # the stream did not move: the id is taken
                raise EventStoreError(f"event {event.id} is stored already")
            raise WrongExpectedVersion(state.case_id, state.version, actual)
        return new

    def append_many(
        self, items: Sequence[tuple[CaseState, Sequence[CloudEvent]]], conn: psycopg.Connection
    ) -> CasesAppended:
        """``append`` for many cases in the caller's transaction: each case's events go in
        if it is still at its state's version, the others are reported, not raised."""
        result = self.store.append_many(
            [(state.case_id, events, state.version) for state, events in items], conn=conn
        )
        states: dict[str, CaseState] = {}
        rows: list[dict[str, Any]] = []
        for state, _ in items:
            recorded = result.recorded.get(state.case_id)
            if recorded is None:
                continue
            new = state
            for r in recorded:
                new = apply(new, r.event)
            states[new.case_id] = new
            rows.append(_index_params(new, recorded[-1].event.time if recorded
                                      else datetime.now(UTC)))
        if rows:  # one statement; in case order, as the events went in: no waiting in a circle
            rows.sort(key=lambda r: str(r["case_id"]))
            conn.execute(_UPSERT_INDEX_MANY, (Json(rows, dumps=_json),))
        return CasesAppended(states, result.conflicts)

    def append_bookkeeping(
        self, by_case: dict[str, list[CloudEvent]], conn: psycopg.Connection
    ) -> dict[str, WrongExpectedVersion]:
        """Append events that change nothing in a case's state but its version (e.g.
        notification_sent; ``changes_state`` says which) at each stream's head, read now in
        ONE query: no stream is read or folded. The index rows move to the new version in
        one statement. Returns the cases someone appended to meanwhile (nothing written for
        them: call again); a case with no stream raises CaseNotFound."""
        for events in by_case.values():
            for event in events:
                if changes_state(event.type) or event.actor.startswith("staff:"):
                    raise ValueError(f"{event.type} by {event.actor} changes the case's state:"
                                     " append it through append_many")
        heads = stream_heads(conn, list(by_case))
        missing = sorted(set(by_case) - set(heads))
        if missing:
            raise CaseNotFound(", ".join(missing))
        result = self.store.append_many(
            [(case_id, events, heads[case_id][0]) for case_id, events in sorted(by_case.items())],
            conn=conn)
        moved = sorted((case_id, recorded[-1].event.sequence or 0, recorded[-1].event.time)
                       for case_id, recorded in result.recorded.items() if recorded)
        if moved:  # in case order, as the events went in: no waiting in a circle
            conn.execute(
                "UPDATE case_index c SET version = GREATEST(c.version, m.version),"
                " updated_at = GREATEST(c.updated_at, m.at)"
                " FROM unnest(%s::text[], %s::int[], %s::timestamptz[]) AS m(case_id, version, at)"
                " WHERE c.case_id = m.case_id",
                ([m[0] for m in moved], [m[1] for m in moved], [m[2] for m in moved]))
        return result.conflicts

    def find_by_receipt(
        self, conn: psycopg.Connection, receipt_number: str, access_code: str
    ) -> str | None:
        """The case id for a receipt number + access code, or None (never says which is wrong)."""
        row = conn.execute(_BY_RECEIPT, (receipt_number.strip().upper(),)).fetchone()
        return _if_code_matches(row, access_code)

    async def find_by_receipt_async(
        self, conn: AsyncConnection[Any], receipt_number: str, access_code: str
    ) -> str | None:
        cur = await conn.execute(_BY_RECEIPT, (receipt_number.strip().upper(),))
        return _if_code_matches(await cur.fetchone(), access_code)


_BY_RECEIPT = "SELECT case_id, access_code_hash FROM case_access WHERE receipt_number = %s"


def _if_code_matches(row: Any, access_code: str) -> str | None:
    expected = row[1] if row else b"\0" * 32
    ok = secrets.compare_digest(bytes(expected), hash_access_code(access_code))
    return str(row[0]) if row and ok else None


_INDEX_INTO = """
    INSERT INTO case_index (case_id, receipt_number, unit_id, status, channel,
        first_responder_id, responsible_id, handler_id, section_id, awaiting_handoff_to,
        matter_type_code, due_date, transfer_pending, extension_pending, escalated_to,
        units, participants, version, opened_at, updated_at)"""
_INDEX_ON_CONFLICT = """
    ON CONFLICT (case_id) DO UPDATE SET
        status = EXCLUDED.status, responsible_id = EXCLUDED.responsible_id,
        handler_id = EXCLUDED.handler_id, section_id = EXCLUDED.section_id,
        awaiting_handoff_to = EXCLUDED.awaiting_handoff_to,
        matter_type_code = EXCLUDED.matter_type_code, due_date = EXCLUDED.due_date,
        transfer_pending = EXCLUDED.transfer_pending,
        extension_pending = EXCLUDED.extension_pending,
        escalated_to = EXCLUDED.escalated_to, units = EXCLUDED.units,
        participants = EXCLUDED.participants, version = EXCLUDED.version,
        updated_at = EXCLUDED.updated_at
    """
_UPSERT_INDEX = _INDEX_INTO + """
    VALUES (%(case_id)s, %(receipt_number)s, %(unit_id)s, %(status)s, %(channel)s,
        %(first_responder_id)s, %(responsible_id)s, %(handler_id)s, %(section_id)s,
        %(awaiting_handoff_to)s, %(matter_type_code)s, %(due_date)s, %(transfer_pending)s,
        %(extension_pending)s, %(escalated_to)s, %(units)s, %(participants)s, %(version)s,
        %(when)s, %(when)s)""" + _INDEX_ON_CONFLICT
# The index row of a case whose event went in, in the same statement as that event's INSERT
# (EventStore.append_one_and: ``ins`` is the inserted row; none, nothing indexed).
_INDEX_ORDER = ("case_id", "receipt_number", "unit_id", "status", "channel",
                "first_responder_id", "responsible_id", "handler_id", "section_id",
                "awaiting_handoff_to", "matter_type_code", "due_date", "transfer_pending",
                "extension_pending", "escalated_to", "units", "participants", "version",
                "when", "when")
_INDEX_AFTER_INSERT = _INDEX_INTO + """
    SELECT %s::text, %s::text, %s::text, %s::text, %s::text, %s::text, %s::text, %s::text,
        %s::text, %s::text, %s::text, %s::date, %s::boolean, %s::boolean, %s::text[],
        %s::text[], %s::text[], %s::integer, %s::timestamptz, %s::timestamptz
    FROM ins""" + _INDEX_ON_CONFLICT
# Many cases in one statement: the same rows as one JSON array (text[] columns from arrays),
# read as json, not jsonb: the rows are only taken apart, and json skips building the jsonb
# tree first (measured: about a quarter less server time a row).
_UPSERT_INDEX_MANY = _INDEX_INTO + """
    SELECT case_id, receipt_number, unit_id, status, channel, first_responder_id,
        responsible_id, handler_id, section_id, awaiting_handoff_to, matter_type_code,
        due_date, transfer_pending, extension_pending, escalated_to, units, participants,
        version, "when", "when"
    FROM json_to_recordset(%s) AS r(case_id text, receipt_number text, unit_id text,
        status text, channel text, first_responder_id text, responsible_id text,
        handler_id text, section_id text, awaiting_handoff_to text, matter_type_code text,
        due_date date, transfer_pending boolean, extension_pending boolean,
        escalated_to text[], units text[], participants text[], version integer,
        "when" timestamptz)""" + _INDEX_ON_CONFLICT



# A new case in one statement: the access code, the index row and the received event as
# version 1 (chained to the genesis hash), so it needs no transaction of its own.
_OPEN_CASE = """WITH access AS (
    INSERT INTO case_access (case_id, receipt_number, access_code_hash)
    VALUES (%(case_id)s, %(receipt_number)s, %(access)s)),
  inquirer AS (
    INSERT INTO pii_cases (case_id, inquirer_ref)
    SELECT %(case_id)s, %(pii_ref)s::text WHERE %(pii_ref)s::text IS NOT NULL),
  indexed AS (""" + _UPSERT_INDEX + """)
    INSERT INTO events (event_id, stream_id, version, type, source, time, dataschema, actor,
        causation_id, correlation_id, data, prev_hash, hash)
    VALUES (%(id)s, %(case_id)s, 1, %(type)s, %(source)s, %(when)s, %(dataschema)s,
        %(actor)s, %(causation)s, %(correlation)s, %(data)s, %(genesis)s, %(hash)s)"""
_RECEIPT_BLOCK = "SELECT nextval('receipt_number_seq') FROM generate_series(1, %s)"


def _receipt(number: int, when: datetime | None) -> str:
    day = (when or datetime.now(UTC)).astimezone().strftime("%Y%m%d")
    return f"SW{day}{number:06d}"


def _opening(received: CloudEvent, access_code: str, seal: SealKey | None = None
             ) -> tuple[CaseState, dict[str, Any]]:
    """The new case's state and the parameters of _OPEN_CASE (the event validated, its
    personal fields sealed with the inquirer's key when given, and hashed as the store
    would: the stream's first event)."""
    validate(received)
    state = apply(CaseState(case_id=received.subject), received.with_sequence(1))
    if seal is not None:
        received = sealed(received, *seal)
    first = received.with_sequence(1)
    digest, data = hashed(GENESIS, first)
    return state, {
        **_index_params(state, received.time), "access": hash_access_code(access_code),
        "id": first.id, "type": first.type, "source": first.source,
        "dataschema": first.dataschema, "actor": first.actor, "causation": first.causationid,
        "correlation": first.correlationid, "data": stored_data(data),
        "genesis": GENESIS, "hash": digest, "pii_ref": seal[0] if seal else None,
    }


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _upsert_index(conn: psycopg.Connection, s: CaseState, when: datetime) -> None:
    conn.execute(_UPSERT_INDEX, _index_params(s, when))


def _index_params(s: CaseState, when: datetime) -> dict[str, Any]:
    return {
        "case_id": s.case_id, "receipt_number": s.receipt_number, "unit_id": s.unit_id,
        "status": s.status.value, "channel": s.channel,
        "first_responder_id": s.first_responder_id, "responsible_id": s.responsible_id,
        "handler_id": s.handler_id, "section_id": s.section_id,
        "awaiting_handoff_to": s.awaiting_handoff_to, "matter_type_code": s.matter_type_code,
        "due_date": s.due_date, "transfer_pending": s.transfer_pending,
        "extension_pending": s.extension_pending, "escalated_to": list(s.escalated_to),
        "units": list(s.units), "participants": list(s.participants),
        "version": s.version, "when": when,
    }
