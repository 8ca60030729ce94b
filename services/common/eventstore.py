"""The PostgreSQL event store: per-case streams with optimistic concurrency and a hash chain.

    append(stream, events, expected_version)   validate -> check head -> chain -> one INSERT
    append_many([(stream, events, expected_version), ...])
                                                many streams in the caller's transaction:
                                                one query for every head, one INSERT for
                                                every row; a stream not at its expected
                                                version is reported, the others go in
    read_stream(stream, up_to_version / up_to_time)
    read_stream_async, append_one_and_async     the same on an asyncio connection
    read_streams([stream, ...])                 several streams in one query
    read_kinds(conn, [stream, ...], kinds)      only the events of some kinds (any version,
                                                e.g. "shouwen.case.rated"), upcast to the
                                                newest: readers never name a version
    stream_heads(conn, [stream, ...])           each stream's last version and event id
    read_all(from_seq)                          commit order (the relay's commit_log)

Each event's hash is sha256(prev_hash || canonical bytes), ``prev_hash`` being the hash of
the stream's previous event (32 zero bytes before the first). Appends never take a global
lock: the global chain over commit order is extended later by the relay's sequencer.

append_many and concurrent writers: heads are read without locks, so another transaction
may take a version between the read and the INSERT. ON CONFLICT DO NOTHING then skips that
row, but would keep the stream's later rows, chained to the wrong predecessor; so the INSERT
runs under a savepoint and, if any row is missing from its RETURNING, is rolled back to it
and repeated without the streams that lost (reported as conflicts, or as replayed if the
other writer appended these very events). Rows go in (stream, version) order, so two
batches never wait on each other in a circle; a writer that took its rows in another order
(several statements in one transaction) can still make a circle with one, and the
INSERT PostgreSQL picks as the victim is rolled back to its savepoint and made again at once.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

import orjson
import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb, set_json_loads
from psycopg_pool import ConnectionPool
from pydantic import ValidationError

from events import CloudEvent, UnknownEventType, model_for, registered_types
from events.canonical import canonical_bytes, canonical_envelope, canonical_json
from events.envelope import validated
from events.registry import upcast_data
from services.common import tracing
from services.common.pii import personal_data

GENESIS = b"\x00" * 32
DEADLOCK_ATTEMPTS = 5  # a multi-row INSERT chosen as a deadlock's victim is made again
ANY = None  # expected_version meaning "whatever the stream is at"


class EventStoreError(Exception):
    pass


class WrongExpectedVersion(EventStoreError):
    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        self.stream_id, self.expected, self.actual = stream_id, expected, actual
        super().__init__(
            f"stream {stream_id!r}: expected version {expected}, but it is at version {actual}"
        )


class EventValidationError(EventStoreError, ValueError):
    """An event that fails its schema; the message names the type and the field."""


@dataclass(frozen=True)
class RecordedEvent:
    event: CloudEvent
    position: int
    hash: bytes
    prev_hash: bytes
    recorded_at: datetime
    seq: int | None = None  # global commit-order position, once sequenced

    @classmethod
    def appended(cls, event: CloudEvent, position: int, hash: bytes, prev_hash: bytes,
                 recorded_at: datetime) -> RecordedEvent:
        """One just appended, built as the frozen dataclass's copy would be (its generated
        ``__init__`` sets each field through ``object.__setattr__``: a third of the time)."""
        recorded = cls.__new__(cls)
        object.__setattr__(recorded, "__dict__", {
            "event": event, "position": position, "hash": hash, "prev_hash": prev_hash,
            "recorded_at": recorded_at, "seq": None})
        return recorded


def chain_hash(prev_hash: bytes, event: CloudEvent) -> bytes:
    return hashlib.sha256(prev_hash + canonical_bytes(event)).digest()


def hashed(prev_hash: bytes, event: CloudEvent) -> tuple[bytes, bytes]:
    """(``chain_hash(prev_hash, event)``, the data's canonical JSON): the data is walked
    and written once, then hashed inside the envelope and stored as it is (``stored_data``)."""
    data = canonical_json(event.data)
    return hashlib.sha256(prev_hash + canonical_envelope(event, data)).digest(), data


def stored_data(data: bytes) -> Jsonb:
    """A jsonb parameter of data already written as JSON (``hashed``'s second half)."""
    return Jsonb(data, dumps=_as_is)


def validate(event: CloudEvent) -> None:
    """Refuse an event whose data does not fit its type's schema, naming the field. Data
    that ``new_event`` dumped from a validated payload of the type's model is not validated
    a second time (``CloudEvent.payload_checked``): it cannot fail."""
    try:
        model = model_for(event.type)
    except UnknownEventType as exc:
        raise EventValidationError(f"{exc}; field 'type'") from None
    if event.payload_checked(model):
        return
    try:
        validated(model, event.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "data"
        raise EventValidationError(
            f"{event.type}: field 'data.{field}': {first['msg']}"
            + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else "")
        ) from None


_COLUMNS = (
    "position, event_id, stream_id, version, type, source, time, dataschema, actor,"
    " causation_id, correlation_id, data, prev_hash, hash, recorded_at"
)
_INSERT_INTO = (
    "INSERT INTO events (event_id, stream_id, version, type, source, time, dataschema, actor,"
    " causation_id, correlation_id, data, prev_hash, hash)"
)
# The common case in one statement: one event, at a known expected version, sent as one
# parameter: its canonical bytes (RFC 8785 JSON of the envelope). The columns are read out
# of them, the previous event's hash is read and the chain hash computed (sha256(prev ||
# canonical bytes)) inside the INSERT, so what is stored is what was hashed. No row comes
# back when the stream is not at the expected version (the predecessor is missing, or the
# version is taken: unique (stream_id, version)), and the general path then says why.
_ENVELOPE_RECORD = (
    "r(id uuid, subject text, sequence integer, type text, source text, time timestamptz,"
    " dataschema text, actor text, causationid uuid, correlationid uuid, data jsonb)"
)
_INSERT_CHAINED = _INSERT_INTO + (
    " SELECT r.id, r.subject, r.sequence, r.type, r.source, r.time, r.dataschema, r.actor,"
    " r.causationid, r.correlationid, r.data, p.hash, sha256(p.hash || c.canonical)"
    " FROM (SELECT %s::bytea AS canonical) AS c"
    " CROSS JOIN LATERAL jsonb_to_record(convert_from(c.canonical, 'UTF8')::jsonb) AS "
    + _ENVELOPE_RECORD
    + " CROSS JOIN LATERAL (SELECT decode(repeat('00', 32), 'hex') AS hash WHERE r.sequence = 1"
    " UNION ALL SELECT e.hash FROM events e WHERE e.stream_id = r.subject"
    " AND e.version = r.sequence - 1 AND r.sequence > 1) AS p"
)
# append_many: every stream's head (the common path: which ids are stored already is asked
# only for the streams not at their expected version, or whose rows did not all go in).
_HEADS = (
    "SELECT s.stream_id, h.version, h.hash"
    " FROM unnest(%s::text[]) AS s(stream_id) CROSS JOIN LATERAL (SELECT version, hash"
    " FROM events e WHERE e.stream_id = s.stream_id ORDER BY version DESC LIMIT 1) AS h"
)
# ... and with them every one of the ids already stored (and where), in one round trip.
# Rows: (stream, head version, head hash, NULL) or (stream, version, NULL, id).
_HEADS_AND_KNOWN = (
    "SELECT s.stream_id, h.version, h.hash, NULL::uuid"
    " FROM unnest(%s::text[]) AS s(stream_id) CROSS JOIN LATERAL (SELECT version, hash"
    " FROM events e WHERE e.stream_id = s.stream_id ORDER BY version DESC LIMIT 1) AS h"
    " UNION ALL SELECT stream_id, version, NULL, event_id FROM events"
    " WHERE event_id = ANY(%s::uuid[])"
)
# Many rows in one statement (so that it is atomic on its own), as one JSON array whose
# rows are the events' canonical JSON (the very bytes each hash is computed over, the
# envelope's RFC 8785 keys) with the two hashes added in hex: no row is written twice.
# append_many's conflicting rows are skipped and seen missing from RETURNING.
_INSERT_ROWS = _INSERT_INTO + (
    " SELECT id, subject, sequence, type, source, time, dataschema, actor,"
    " causationid, correlationid, data, decode(prev_hash, 'hex'), decode(hash, 'hex')"
    " FROM jsonb_to_recordset(%s) AS r(id uuid, subject text, sequence integer,"
    " type text, source text, time timestamptz, dataschema text, actor text,"
    " causationid uuid, correlationid uuid, data jsonb, prev_hash text, hash text)"
)
_INSERT_JSON = _INSERT_ROWS + " ON CONFLICT DO NOTHING RETURNING event_id, position, recorded_at"
# The stream head. Whether the events were appended before (a re-append: a no-op) is asked
# only when the head or the INSERT says something is off, never on the common path.
_HEAD = "SELECT version, hash FROM events WHERE stream_id = %s ORDER BY version DESC LIMIT 1"


StreamBatch = tuple[str, Sequence[CloudEvent], int | None]  # stream, events, expected version


@dataclass
class AppendedMany:
    """What ``append_many`` did, stream by stream. ``recorded``: the streams' events as
    stored, appended now or (``replayed``) found appended before with the same ids.
    ``conflicts``: streams not at their expected version; none of their events went in."""

    recorded: dict[str, list[RecordedEvent]] = field(default_factory=dict)
    replayed: set[str] = field(default_factory=set)
    conflicts: dict[str, WrongExpectedVersion] = field(default_factory=dict)


def row_to_recorded(row: dict[str, Any]) -> RecordedEvent:
    event = CloudEvent(
        id=row["event_id"],
        source=row["source"],
        type=row["type"],
        subject=row["stream_id"],
        time=row["time"],
        dataschema=row["dataschema"],
        actor=row["actor"],
        causationid=row["causation_id"],
        correlationid=row["correlation_id"],
        sequence=row["version"],
        data=row["data"],
    )
    return RecordedEvent(
        event=event,
        position=row["position"],
        hash=bytes(row["hash"]),
        prev_hash=bytes(row["prev_hash"]),
        recorded_at=row["recorded_at"],
        seq=row.get("seq"),
    )


class EventStore:
    """Append to and read from case streams. Give it a pool, or a conninfo string."""

    def __init__(self, pool_or_url: ConnectionPool | str) -> None:
        self._pool = pool_or_url if isinstance(pool_or_url, ConnectionPool) else None
        self._url = pool_or_url if isinstance(pool_or_url, str) else None

    @contextmanager
    def _conn(self, conn: psycopg.Connection | None) -> Iterator[psycopg.Connection]:
        if conn is not None:
            yield conn
        elif self._pool is not None:
            with self._pool.connection() as c:
                yield c
        else:
            assert self._url is not None
            with psycopg.connect(self._url, autocommit=True) as c:
                yield c

    # -- writing -------------------------------------------------------------------------
    def append(
        self,
        stream_id: str,
        events: Sequence[CloudEvent],
        expected_version: int | None,
        *,
        conn: psycopg.Connection | None = None,
    ) -> list[RecordedEvent]:
        """Append ``events`` to ``stream_id`` if it is at ``expected_version`` (0 = new
        stream, ``ANY`` = no check). Re-appending the same event ids is a no-op that
        returns the stored events. With ``conn``, runs inside the caller's transaction."""
        if not events:
            return []
        for event in events:
            if event.subject != stream_id:
                raise EventValidationError(
                    f"field 'subject': event {event.id} is for {event.subject!r}, not {stream_id!r}"
                )
            validate(event)
        with self._conn(conn) as c:
            events = _sealed(c, [(stream_id, events)]).get(stream_id, events)
            status = c.info.transaction_status
            if c.autocommit and status == TransactionStatus.IDLE:
                # No transaction to join: the INSERT is one statement, its own transaction.
                return self._append(c, stream_id, events, expected_version, atomic=True)
            if status == TransactionStatus.INTRANS and len(events) == 1 \
                    and expected_version is not None:
                # One statement that skips rather than fails on a conflict cannot leave the
                # caller's transaction half-done: no savepoint (two round trips) needed.
                fast = _append_one_chained(c, events[0], expected_version + 1, atomic=False)
                if fast is not None:
                    return [fast]
            for attempt in range(DEADLOCK_ATTEMPTS):  # a deadlock's victim: again at once
                try:
                    with c.transaction():
                        return self._append(c, stream_id, events, expected_version,
                                            atomic=False)
                except psycopg.errors.DeadlockDetected:
                    if attempt == DEADLOCK_ATTEMPTS - 1:
                        raise
            raise AssertionError("unreachable")

    def append_one_and(
        self,
        stream_id: str,
        event: CloudEvent,
        expected_version: int,
        then: str,
        then_params: Sequence[Any],
        *,
        conn: psycopg.Connection,
    ) -> RecordedEvent | None:
        """One event at ``expected_version`` + 1 and ``then`` in ONE statement, inside the
        caller's open transaction: ``then`` is a data-modifying statement (e.g. the writers'
        index row) written as a CTE that may read ``ins``, the inserted row, so it does
        something only if the event went in. None when the event did not go in (the stream
        moved, or the event was appended before): nothing was written, and the caller takes
        the general path (``append``), which says why. Validated, sealed and hashed exactly
        as ``append`` does: the same chained INSERT."""
        if event.subject != stream_id:
            raise EventValidationError(
                f"field 'subject': event {event.id} is for {event.subject!r}, not {stream_id!r}"
            )
        validate(event)
        if conn.info.transaction_status != TransactionStatus.INTRANS:
            raise EventStoreError("append_one_and needs the caller's open transaction")
        event = _sealed(conn, [(stream_id, [event])]).get(stream_id, [event])[0]
        event = event.with_sequence(expected_version + 1)
        row = conn.execute(
            f"WITH ins AS ({_INSERT_CHAINED} ON CONFLICT DO NOTHING"
            " RETURNING position, prev_hash, hash, recorded_at),"
            f" then_ AS ({then}) SELECT position, prev_hash, hash, recorded_at FROM ins",
            (canonical_bytes(event), *then_params)).fetchone()
        if row is None:
            return None
        if tracing.enabled():
            tracing.record(conn, [event.id], [event.causationid])
        return RecordedEvent(event, row[0], bytes(row[2]), bytes(row[1]), row[3])

    def _append(
        self,
        c: psycopg.Connection,
        stream_id: str,
        events: Sequence[CloudEvent],
        expected_version: int | None,
        atomic: bool,
    ) -> list[RecordedEvent]:
        if len(events) == 1 and expected_version is not None:
            fast = _append_one_chained(c, events[0], expected_version + 1, atomic)
            if fast is not None:
                return [fast]
        ids = [e.id for e in events]
        head = c.execute(_HEAD, (stream_id,)).fetchone()
        version, prev = (head[0], bytes(head[1])) if head is not None else (0, GENESIS)
        if expected_version is not None and expected_version != version:
            existing = self._existing(c, ids)
            if existing:  # appended before (a no-op), or partly: refused
                return self._same_or_refuse(c, stream_id, ids, existing)
            raise WrongExpectedVersion(stream_id, expected_version, version)
        stamped = _chained(events, version, prev)
        version += len(stamped)
        inserted = _insert(c, stamped, atomic)
        if inserted != len(stamped):
            return self._lost_race(c, stream_id, ids, expected_version,
                                   version - len(stamped), inserted)
        now = datetime.now().astimezone()
        return [RecordedEvent.appended(e, 0, d, p, now) for e, p, d, _ in stamped]

    def _lost_race(
        self,
        c: psycopg.Connection,
        stream_id: str,
        ids: list[UUID],
        expected_version: int | None,
        read_version: int,
        inserted: int,
    ) -> list[RecordedEvent]:
        """A concurrent writer took these versions, or appended these very events. Raising
        rolls back any rows that did go in (append's transaction block)."""
        if inserted == 0 and (existing := self._existing(c, ids)):
            return self._same_or_refuse(c, stream_id, ids, existing)
        actual = c.execute(
            "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = %s", (stream_id,)
        ).fetchone()
        expected = expected_version if expected_version is not None else read_version
        raise WrongExpectedVersion(stream_id, expected, actual[0] if actual else 0)

    @staticmethod
    def _existing(c: psycopg.Connection, ids: list[UUID]) -> set[UUID]:
        rows = c.execute("SELECT event_id FROM events WHERE event_id = ANY(%s)", (ids,))
        return {r[0] for r in rows}

    def _same_or_refuse(
        self, c: psycopg.Connection, stream_id: str, ids: list[UUID], existing: set[UUID]
    ) -> list[RecordedEvent]:
        if existing != set(ids):
            raise EventStoreError(
                f"stream {stream_id!r}: events {sorted(map(str, existing))} were already "
                "appended, the others were not; append them separately"
            )
        with c.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM events WHERE event_id = ANY(%s) ORDER BY version",
                (ids,),
            )
            stored = [row_to_recorded(r) for r in cur]
        if any(r.event.subject != stream_id for r in stored):
            raise EventStoreError(f"event ids {sorted(map(str, ids))} belong to another stream")
        return stored

    def append_many(
        self, batches: Sequence[StreamBatch], *, conn: psycopg.Connection | None = None
    ) -> AppendedMany:
        """Append to many streams at once, each ``(stream, events, expected_version)`` as
        ``append`` would (same versions and hashes; re-appended ids are a no-op), inside the
        caller's transaction if one is open. A stream not at its expected version, read now
        or lost to a concurrent writer during the INSERT, goes to ``conflicts`` with none of
        its events written, so the caller can redo just those streams. Raises, writing
        nothing, for what no redo mends: an invalid event, an event for another stream, a
        stream or an event id given twice, ids of a stream only partly appended before."""
        _check_many(batches)
        with self._conn(conn) as c, c.transaction():
            return _append_many(c, batches, _sealed_data(c, [e for _, e, _ in batches]))

    # -- reading -------------------------------------------------------------------------
    def read_streams(
        self, stream_ids: Sequence[str], *, conn: psycopg.Connection | None = None
    ) -> dict[str, list[RecordedEvent]]:
        """Several streams in one query, each in version order (absent: no events)."""
        with self._conn(conn) as c:
            return read_streams(c, stream_ids)

    def stream_version(self, stream_id: str, *, conn: psycopg.Connection | None = None) -> int:
        with self._conn(conn) as c:
            row = c.execute(
                "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = %s", (stream_id,)
            ).fetchone()
            return int(row[0]) if row else 0

    def read_stream(
        self,
        stream_id: str,
        *,
        up_to_version: int | None = None,
        up_to_time: datetime | None = None,
        conn: psycopg.Connection | None = None,
    ) -> list[RecordedEvent]:
        """A stream's events in version order; optionally only those up to a version or
        recorded at or before a time (the case as it was then)."""
        sql = f"SELECT {_COLUMNS} FROM events WHERE stream_id = %s"
        params: list[Any] = [stream_id]
        if up_to_version is not None:
            sql += " AND version <= %s"
            params.append(up_to_version)
        if up_to_time is not None:
            sql += " AND recorded_at <= %s"
            params.append(up_to_time)
        with self._conn(conn) as c, c.cursor(row_factory=dict_row) as cur:
            cur.execute(sql + " ORDER BY version", params)
            return [row_to_recorded(r) for r in cur]

    def read_all(
        self, from_seq: int = 1, limit: int = 1000, *, conn: psycopg.Connection | None = None
    ) -> list[RecordedEvent]:
        """Every event in commit order, from global position ``from_seq`` (inclusive).
        Only events the relay's sequencer has placed in commit order are returned."""
        cols = ", ".join(f"e.{c.strip()}" for c in _COLUMNS.split(","))
        with self._conn(conn) as c, c.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"SELECT {cols}, l.seq FROM commit_log l JOIN events e ON e.position = l.position"
                " WHERE l.seq >= %s ORDER BY l.seq LIMIT %s",
                (from_seq, limit),
            )
            return [row_to_recorded(r) for r in cur]



# -- on an asyncio connection (intake's staff actions: no thread hop) -----------------------
async def read_stream_async(c: psycopg.AsyncConnection[Any], stream_id: str
                            ) -> list[RecordedEvent]:
    """``EventStore.read_stream`` (the whole stream, in version order) on an async
    connection."""
    async with c.cursor(row_factory=dict_row) as cur:
        set_json_loads(orjson.loads, cur)
        await cur.execute(f"SELECT {_COLUMNS} FROM events WHERE stream_id = %s ORDER BY version",
                          (stream_id,))
        return [row_to_recorded(r) for r in await cur.fetchall()]


async def stream_version_async(c: psycopg.AsyncConnection[Any], stream_id: str) -> int:
    cur = await c.execute("SELECT coalesce(max(version), 0) FROM events WHERE stream_id = %s",
                          (stream_id,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def append_one_and_async(
    c: psycopg.AsyncConnection[Any], stream_id: str, event: CloudEvent, expected_version: int,
    then: str, then_params: Sequence[Any],
) -> RecordedEvent | None:
    """``EventStore.append_one_and`` on an async connection, which may be in autocommit
    mode: the event (validated, sealed and hashed exactly as ``append`` does, by the same
    chained INSERT) and ``then`` are ONE statement, atomic on its own. None when the event
    did not go in (the stream is not at ``expected_version``, or the id is taken): nothing
    was written."""
    if event.subject != stream_id:
        raise EventValidationError(
            f"field 'subject': event {event.id} is for {event.subject!r}, not {stream_id!r}"
        )
    validate(event)
    sealed = await personal_data().seal_streams_async(c, [(stream_id, [event])])
    event = sealed.get(stream_id, [event])[0].with_sequence(expected_version + 1)
    cur = await c.execute(
        f"WITH ins AS ({_INSERT_CHAINED} ON CONFLICT DO NOTHING"
        " RETURNING position, prev_hash, hash, recorded_at),"
        f" then_ AS ({then}) SELECT position, prev_hash, hash, recorded_at FROM ins",
        (canonical_bytes(event), *then_params))
    row = await cur.fetchone()
    if row is None:
        return None
    await tracing.record_async(c, [event.id], [event.causationid])  # off: nothing
    return RecordedEvent(event, row[0], bytes(row[2]), bytes(row[1]), row[3])


def _record_traces(method: Any) -> Any:
    """After an append: the trace context each event was appended under goes to
    event_traces (services/common/tracing.py; nothing while tracing is off). Inside the
    caller's transaction when there is one, else just after (a trace is best effort)."""

    @functools.wraps(method)
    def appending(self: EventStore, *args: Any, conn: psycopg.Connection | None = None,
                  **kwargs: Any) -> Any:
        result = method(self, *args, conn=conn, **kwargs)
        if tracing.enabled():
            if isinstance(result, AppendedMany):
                events = [r.event for rs in result.recorded.values() for r in rs]
            else:
                events = [r.event for r in result]
            if events:
                with self._conn(conn) as c:
                    tracing.record(c, [e.id for e in events], [e.causationid for e in events])
        return result

    return appending


EventStore.append = _record_traces(EventStore.append)  # type: ignore[method-assign]
EventStore.append_many = _record_traces(EventStore.append_many)  # type: ignore[method-assign]
def _sealed(c: psycopg.Connection, batches: Sequence[tuple[str, Sequence[CloudEvent]]]
            ) -> dict[str, list[CloudEvent]]:
    """Personal fields sealed with each case's inquirer key, after validation and before
    hashing (services/common/pii.py); {} when encryption is off or nothing is personal."""
    return personal_data().seal_streams(c, batches)


def _sealed_data(c: psycopg.Connection, streams: Sequence[Sequence[CloudEvent]]
                 ) -> dict[UUID, dict[str, Any]]:
    """``_sealed``'s data alone, by event id: the event is copied once, when its version is
    stamped (``_chained``)."""
    return personal_data().sealed_data(c, streams)


# -- append_many ---------------------------------------------------------------------------
# (event with its version, prev hash, hash, its canonical bytes: hashed, then stored)
_Planned = list[tuple[CloudEvent, bytes, bytes, bytes]]
_Known = dict[UUID, tuple[str, int]]  # stored event id -> (stream, version)


def _check_many(batches: Sequence[StreamBatch]) -> None:
    streams: set[str] = set()
    ids: set[UUID] = set()
    for stream_id, events, _ in batches:
        if stream_id in streams:
            raise EventStoreError(f"stream {stream_id!r} is given twice; give its events once")
        streams.add(stream_id)
        for event in events:
            if event.subject != stream_id:
                raise EventValidationError(
                    f"field 'subject': event {event.id} is for {event.subject!r}, not {stream_id!r}"
                )
            if event.id in ids:
                raise EventStoreError(f"event {event.id} is given twice")
            ids.add(event.id)
            validate(event)


def _append_many(c: psycopg.Connection, batches: Sequence[StreamBatch],
                 sealed: dict[UUID, dict[str, Any]]) -> AppendedMany:
    """``sealed``: the data an event is stored with, by id, when its personal fields were
    sealed (``_sealed_data``); an event not in it is stored as given."""
    result = AppendedMany()
    todo = [b for b in batches if b[1]]
    result.recorded.update((b[0], []) for b in batches if not b[1])
    heads = _heads(c, todo)
    off = [b for b in todo if b[2] is not None and b[2] != heads.get(b[0], (0, b""))[0]]
    known = _heads_and_known(c, off)[1] if off else {}  # a no-op re-append, or a conflict
    planned: dict[str, _Planned] = {}
    replayed: list[StreamBatch] = []
    for stream_id, events, expected in todo:
        if _already_appended(stream_id, events, known):
            replayed.append((stream_id, events, expected))
            continue
        version, prev = heads.get(stream_id, (0, GENESIS))
        if expected is not None and expected != version:
            result.conflicts[stream_id] = WrongExpectedVersion(stream_id, expected, version)
            continue
        planned[stream_id] = _chained(events, version, prev, sealed)
    stored, lost = _insert_streams(c, planned)
    for stream_id, rows in planned.items():
        if stream_id not in lost:
            result.recorded[stream_id] = [
                RecordedEvent.appended(e, stored[e.id][0], d, p, stored[e.id][1])
                for e, p, d, _ in rows
            ]
    if lost:
        replayed += _sort_out_lost(c, [b for b in todo if b[0] in lost], heads, result)
    _replay(c, replayed, result)
    return result


def _heads(c: psycopg.Connection, batches: Sequence[StreamBatch]) -> dict[str, tuple[int, bytes]]:
    """Every stream's (version, hash) at its head: one query."""
    if not batches:
        return {}
    rows = c.execute(_HEADS, ([b[0] for b in batches],))
    return {stream_id: (version, bytes(digest)) for stream_id, version, digest in rows}


def _heads_and_known(
    c: psycopg.Connection, batches: Sequence[StreamBatch]
) -> tuple[dict[str, tuple[int, bytes]], _Known]:
    """Every stream's (version, hash) at its head, and which of the ids are stored: one query."""
    heads: dict[str, tuple[int, bytes]] = {}
    known: _Known = {}
    if not batches:
        return heads, known
    ids = [e.id for b in batches for e in b[1]]
    for stream_id, version, digest, event_id in c.execute(
        _HEADS_AND_KNOWN, ([b[0] for b in batches], ids)
    ):
        if event_id is None:
            heads[stream_id] = (version, bytes(digest))
        else:
            known[event_id] = (stream_id, version)
    return heads, known


def _already_appended(stream_id: str, events: Sequence[CloudEvent], known: _Known) -> bool:
    """All of the stream's event ids are stored in it: a no-op. None are: False. Else refuse."""
    found = [known[e.id] for e in events if e.id in known]
    if not found:
        return False
    if len(found) != len(events):
        raise EventStoreError(
            f"stream {stream_id!r}: events {sorted(str(e.id) for e in events if e.id in known)}"
            " were already appended, the others were not; append them separately"
        )
    if any(s != stream_id for s, _ in found):
        raise EventStoreError(
            f"event ids {sorted(str(e.id) for e in events)} belong to another stream"
        )
    return True


def _chained(events: Sequence[CloudEvent], version: int, prev: bytes,
             sealed: dict[UUID, dict[str, Any]] | None = None) -> _Planned:
    """The events stamped with their versions (and those in ``sealed`` with that data:
    their personal fields sealed), each hashed over the one before."""
    rows = []
    for event in events:
        version += 1
        data = sealed.get(event.id) if sealed else None
        event = event.with_sequence(version) if data is None \
            else event.with_sequence_and_data(version, data)
        canonical = canonical_bytes(event)
        digest = hashlib.sha256(prev + canonical).digest()
        rows.append((event, prev, digest, canonical))
        prev = digest
    return rows


def _insert_streams(
    c: psycopg.Connection, planned: dict[str, _Planned]
) -> tuple[dict[UUID, tuple[int, datetime]], set[str]]:
    """Insert every planned row in one statement; returns (event id -> position and time
    recorded, the streams that lost a race). A stream any of whose rows conflicted (a
    concurrent writer took the version) must not keep the others: the INSERT is undone to
    a savepoint and repeated without those streams. Rows go in stream order, so that two
    batches waiting on each other's rows cannot deadlock."""
    lost: set[str] = set()
    while True:
        rows = [row for stream_id in sorted(planned) if stream_id not in lost
                for row in planned[stream_id]]
        if not rows:
            return {}, lost
        stored = _insert_all_or_none(c, rows)
        if len(stored) == len(rows):
            return stored, lost
        lost.update(e.subject for e, *_ in rows if e.id not in stored)


def _insert_all_or_none(c: psycopg.Connection, rows: _Planned
                        ) -> dict[UUID, tuple[int, datetime]]:
    """The rows' INSERT under a savepoint, undone unless every row went in; returns what
    went in (before the undo). Chosen as a deadlock's victim (another writer holding rows
    this one needs, and needing its rows, taken in another order): the savepoint is
    rolled back, which lets the other go on, and the same INSERT is made again at once."""
    for attempt in range(DEADLOCK_ATTEMPTS):
        try:
            with c.transaction() as savepoint:
                stored = {r[0]: (r[1], r[2])
                          for r in c.execute(_INSERT_JSON, (_json_rows(rows),))}
                if len(stored) != len(rows):
                    raise psycopg.Rollback(savepoint)
            return stored
        except psycopg.errors.DeadlockDetected:
            if attempt == DEADLOCK_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _json_rows(rows: _Planned) -> Jsonb:
    """The rows for _INSERT_ROWS: each event's canonical bytes, the hashes added."""
    return Jsonb(b"[" + b",".join(
        b'%b,"prev_hash":"%b","hash":"%b"}' % (canonical[:-1], prev.hex().encode(),
                                                digest.hex().encode())
        for _, prev, digest, canonical in rows
    ) + b"]", dumps=_as_is)


def _as_is(data: bytes) -> bytes:
    """Jsonb's dumps for data already written (its canonical JSON)."""
    return data


def _sort_out_lost(
    c: psycopg.Connection,
    lost: list[StreamBatch],
    heads: dict[str, tuple[int, bytes]],
    result: AppendedMany,
) -> list[StreamBatch]:
    """Streams a concurrent writer got to first: the same events (a no-op: returned, to be
    read back) or others (a conflict, with the version the stream is at now)."""
    now, known = _heads_and_known(c, lost)
    replayed = []
    for stream_id, events, expected in lost:
        if _already_appended(stream_id, events, known):
            replayed.append((stream_id, events, expected))
            continue
        was = expected if expected is not None else heads.get(stream_id, (0, b""))[0]
        actual = now.get(stream_id, (0, b""))[0]
        result.conflicts[stream_id] = WrongExpectedVersion(stream_id, was, actual)
    return replayed


def _replay(c: psycopg.Connection, replayed: list[StreamBatch], result: AppendedMany) -> None:
    if not replayed:
        return
    ids = [e.id for b in replayed for e in b[1]]
    result.recorded.update(_stored(c, "event_id = ANY(%s)", ids))
    result.replayed.update(b[0] for b in replayed)


def read_streams(
    c: psycopg.Connection, stream_ids: Sequence[str]
) -> dict[str, list[RecordedEvent]]:
    """Several streams in one query (``EventStore.read_streams`` on a connection at hand)."""
    return _stored(c, "stream_id = ANY(%s)", sorted(set(stream_ids)))


def kind_of(event_type: str) -> str:
    """An event type without its version: ``shouwen.case.rated.v2`` -> ``shouwen.case.rated``."""
    return event_type.rsplit(".", 1)[0]


class KindRead(NamedTuple):
    """An event as ``read_kinds`` gives it: its place, its (newest) type, time and data."""

    stream_id: str
    version: int
    type: str
    time: datetime
    data: dict[str, Any]


def read_kinds(
    c: psycopg.Connection, stream_ids: Sequence[str], kinds: Collection[str]
) -> dict[str, list[KindRead]]:
    """The streams' events of the given kinds (types without their version), each upcast to
    its type's newest version, in version order: the reader names no version, and an old
    event reads as a new one (the upcasters run here, as on every other read). Only the
    fields a reader of facts needs: no envelope is built."""
    types = sorted(t for t in registered_types() if kind_of(t) in kinds)
    streams: dict[str, list[KindRead]] = {}
    if not stream_ids or not types:
        return streams
    rows = c.execute(  # data as text, parsed here: cheaper than psycopg's jsonb loader
        "SELECT stream_id, version, type, time, data::text FROM events"
        " WHERE stream_id = ANY(%s) AND type = ANY(%s) ORDER BY stream_id, version",
        (sorted(set(stream_ids)), types)).fetchall()
    loads = orjson.loads
    for stream_id, version, type_, at, text in rows:
        type_, data = upcast_data(type_, loads(text))
        streams.setdefault(stream_id, []).append(KindRead(stream_id, version, type_, at, data))
    return streams


def stream_heads(c: psycopg.Connection, stream_ids: Sequence[str]) -> dict[str, tuple[int, UUID]]:
    """Each stream's last version and event id (absent: no events), one index probe each."""
    return {row[0]: (row[1], row[2]) for row in c.execute(
        "SELECT s.stream_id, h.version, h.event_id FROM unnest(%s::text[]) AS s(stream_id)"
        " CROSS JOIN LATERAL (SELECT version, event_id FROM events e"
        " WHERE e.stream_id = s.stream_id ORDER BY version DESC LIMIT 1) AS h",
        (sorted(set(stream_ids)),))}


def _stored(c: psycopg.Connection, where: str, values: list[Any]) -> dict[str, list[RecordedEvent]]:
    streams: dict[str, list[RecordedEvent]] = {}
    with c.cursor(row_factory=dict_row) as cur:
        set_json_loads(orjson.loads, cur)  # a batch's worth of data: the quicker parser
        cur.execute(f"SELECT {_COLUMNS} FROM events WHERE {where} ORDER BY stream_id, version",
                    (values,))
        for row in cur:
            streams.setdefault(row["stream_id"], []).append(row_to_recorded(row))
    return streams


def _append_one_chained(
    c: psycopg.Connection, event: CloudEvent, version: int, atomic: bool
) -> RecordedEvent | None:
    """One event at ``version`` in one statement; None when it did not go in (a conflict,
    a wrong expected version, or the event was appended before): the general path decides."""
    event = event.with_sequence(version)
    params = (canonical_bytes(event),)
    sql = _INSERT_CHAINED + (" ON CONFLICT DO NOTHING" if not atomic else "")
    sql += " RETURNING position, prev_hash, hash, recorded_at"
    try:
        row = c.execute(sql, params).fetchone()
    except psycopg.errors.UniqueViolation:
        return None
    if row is None:
        return None
    return RecordedEvent(event, row[0], bytes(row[2]), bytes(row[1]), row[3])


def _insert(c: psycopg.Connection, stamped: _Planned, atomic: bool) -> int:
    """Insert the rows with one statement; return how many went in. ``atomic`` (autocommit,
    no transaction open): the statement is its own transaction, so a conflict fails it
    whole and nothing goes in. Otherwise conflicting rows are skipped (ON CONFLICT DO
    NOTHING: no savepoint, no aborted transaction) and the caller sees fewer rows."""
    sql, params = _INSERT_ROWS, (_json_rows(stamped),)
    if not atomic:
        return c.execute(sql + " ON CONFLICT DO NOTHING", params).rowcount
    try:
        return c.execute(sql, params).rowcount
    except psycopg.errors.UniqueViolation:
        return 0


def stored_hashes(
    conn: psycopg.Connection, ids: Sequence[UUID]
) -> dict[UUID, tuple[str, int, bytes, bytes]]:
    """event id -> (stream, version, prev_hash, hash) of those ``ids`` the store holds: what
    a consumer checks a message against (services/common/screen.py), one query a batch."""
    rows = conn.execute("SELECT event_id, stream_id, version, prev_hash, hash FROM events"
                        " WHERE event_id = ANY(%s)", (list(ids),))
    return {r[0]: (r[1], r[2], bytes(r[3]), bytes(r[4])) for r in rows}
