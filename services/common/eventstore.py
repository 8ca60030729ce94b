"""The PostgreSQL event store: per-case streams with optimistic concurrency and a hash chain.

    append(stream, events, expected_version)   validate -> check head -> chain -> one INSERT
    read_stream(stream, up_to_version / up_to_time)
    read_all(from_seq)                          commit order (the relay's commit_log)

Each event's hash is sha256(prev_hash || canonical bytes), ``prev_hash`` being the hash of
the stream's previous event (32 zero bytes before the first). Appends never take a global
lock: the global chain over commit order is extended later by the relay's sequencer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import ValidationError

from events import CloudEvent, UnknownEventType, model_for
from events.canonical import canonical_bytes

GENESIS = b"\x00" * 32
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


def chain_hash(prev_hash: bytes, event: CloudEvent) -> bytes:
    return hashlib.sha256(prev_hash + canonical_bytes(event)).digest()


def validate(event: CloudEvent) -> None:
    """Refuse an event whose data does not fit its type's schema, naming the field."""
    try:
        model = model_for(event.type)
    except UnknownEventType as exc:
        raise EventValidationError(f"{exc}; field 'type'") from None
    try:
        model.model_validate(event.data)
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
_INSERT_ONE = _INSERT_INTO + " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
# Many rows in one statement (one array per column, sent binary: text arrays of JSON
# need slow quoting), so that it is atomic on its own.
_INSERT_MANY = _INSERT_INTO + (
    " SELECT * FROM unnest(%b::uuid[], %b::text[], %b::int[], %b::text[], %b::text[],"
    " %b::timestamptz[], %b::text[], %b::text[], %b::uuid[], %b::uuid[], %b::jsonb[],"
    " %b::bytea[], %b::bytea[])"
)
# The common case in one statement: one event, at a known expected version. The previous
# event's hash is read and the chain hash computed (sha256(prev || canonical bytes)) inside
# the INSERT; no row comes back when the stream is not at the expected version (the
# predecessor is missing, or the version is taken: unique (stream_id, version)), and the
# general path then says why.
_INSERT_CHAINED = _INSERT_INTO + (
    " SELECT %(id)s, %(stream)s, %(version)s, %(type)s, %(source)s, %(time)s,"
    " %(dataschema)s, %(actor)s, %(causation)s, %(correlation)s, %(data)s,"
    " p.hash, sha256(p.hash || %(canonical)s)"
    " FROM (SELECT %(genesis)s::bytea AS hash WHERE %(version)s = 1"
    " UNION ALL SELECT hash FROM events WHERE stream_id = %(stream)s"
    " AND version = %(version)s - 1 AND %(version)s > 1) AS p"
)
# One round trip for "were any of these ids appended already?" and the stream head.
_KNOWN_AND_HEAD = (
    "SELECT EXISTS (SELECT 1 FROM events WHERE event_id = ANY(%s)), h.version, h.hash"
    " FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT version, hash FROM events"
    " WHERE stream_id = %s ORDER BY version DESC LIMIT 1) AS h ON true"
)


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
            if c.autocommit and c.info.transaction_status == TransactionStatus.IDLE:
                # No transaction to join: the INSERT is one statement, its own transaction.
                return self._append(c, stream_id, events, expected_version, atomic=True)
            with c.transaction():
                return self._append(c, stream_id, events, expected_version, atomic=False)

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
        head = c.execute(_KNOWN_AND_HEAD, (ids, stream_id)).fetchone()
        assert head is not None
        if head[0]:
            return self._same_or_refuse(c, stream_id, ids, self._existing(c, ids))
        version, prev = (head[1], bytes(head[2])) if head[1] is not None else (0, GENESIS)
        if expected_version is not None and expected_version != version:
            raise WrongExpectedVersion(stream_id, expected_version, version)
        rows, stamped = [], []
        for event in events:
            version += 1
            event = event.with_sequence(version)
            digest = chain_hash(prev, event)
            rows.append(_insert_params(event, prev, digest))
            stamped.append((event, prev, digest))
            prev = digest
        inserted = _insert(c, rows, atomic)
        if inserted != len(rows):
            return self._lost_race(c, stream_id, ids, expected_version, version - len(rows),
                                   inserted)
        now = datetime.now().astimezone()
        return [RecordedEvent(e, 0, d, p, now) for e, p, d in stamped]

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
        if inserted == 0 and self._existing(c, ids) == set(ids):
            return self._same_or_refuse(c, stream_id, ids, set(ids))
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

    # -- reading -------------------------------------------------------------------------
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


def _append_one_chained(
    c: psycopg.Connection, event: CloudEvent, version: int, atomic: bool
) -> RecordedEvent | None:
    """One event at ``version`` in one statement; None when it did not go in (a conflict,
    a wrong expected version, or the event was appended before): the general path decides."""
    event = event.with_sequence(version)
    params = {
        "id": event.id, "stream": event.subject, "version": version, "type": event.type,
        "source": event.source, "time": event.time, "dataschema": event.dataschema,
        "actor": event.actor, "causation": event.causationid,
        "correlation": event.correlationid, "data": Jsonb(event.data),
        "canonical": canonical_bytes(event), "genesis": GENESIS,
    }
    sql = _INSERT_CHAINED + (" ON CONFLICT DO NOTHING" if not atomic else "")
    sql += " RETURNING position, prev_hash, hash, recorded_at"
    try:
        row = c.execute(sql, params).fetchone()
    except psycopg.errors.UniqueViolation:
        return None
    if row is None:
        return None
    return RecordedEvent(event, row[0], bytes(row[2]), bytes(row[1]), row[3])


def _insert(c: psycopg.Connection, rows: list[tuple[Any, ...]], atomic: bool) -> int:
    """Insert ``rows`` with one statement; return how many went in. ``atomic`` (autocommit,
    no transaction open): the statement is its own transaction, so a conflict fails it
    whole and nothing goes in. Otherwise conflicting rows are skipped (ON CONFLICT DO
    NOTHING: no savepoint, no aborted transaction) and the caller sees fewer rows."""
    sql, params = (
        (_INSERT_ONE, rows[0]) if len(rows) == 1
        else (_INSERT_MANY, [list(column) for column in zip(*rows, strict=True)])
    )
    if not atomic:
        return c.execute(sql + " ON CONFLICT DO NOTHING", params).rowcount
    try:
        return c.execute(sql, params).rowcount
    except psycopg.errors.UniqueViolation:
        return 0


def _insert_params(event: CloudEvent, prev: bytes, digest: bytes) -> tuple[Any, ...]:
    return (
        event.id,
        event.subject,
        event.sequence,
        event.type,
        event.source,
        event.time,
        event.dataschema,
        event.actor,
        event.causationid,
        event.correlationid,
        Jsonb(event.data),
        prev,
        digest,
    )
