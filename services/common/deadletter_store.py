"""Dead letters kept in PostgreSQL (table ``dead_letters``, migration 0030), beside the topic.

    record(conn, delivery, consumer=, reason=, error=)   one row per message and consumer
                                  (a repeat after a crash is the same row); in the caller's
                                  transaction
    letters(conn, status=, consumer=, reason=, limit=)   newest first
    counts(conn, status=)         {(consumer, reason): n}
    one(conn, id)                 the row, or None
    replay(conn, producer, id, by=)   the message back onto its topic (original key, value,
                                  headers without dlq_*), then marked replayed; a letter already
                                  replayed or discarded is not sent again (unless again=True)
    discard(conn, id, by=, reason=)   marked discarded, with who and why

The consumers' inboxes make a replayed event that was handled meanwhile a no-op, and a
message that still cannot be handled is dead-lettered again as a new letter.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from services.common.deadletter import Delivery, describe_error

_INSERT = (
    "INSERT INTO dead_letters (fingerprint, consumer, reason, error, topic, partition,"
    ' "offset", key, value, headers, event_id, event_type, subject)'
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (fingerprint) DO NOTHING"
)
_COLUMNS = ('id, consumer, reason, error, topic, partition, "offset", key, value, headers,'
            " event_id, event_type, subject, created_at, status, resolved_at, resolved_by, note")


def fingerprint(delivery: Delivery, consumer: str) -> bytes:
    h = hashlib.sha256()
    for part in (consumer, delivery.topic, str(delivery.partition), str(delivery.offset)):
        h.update(part.encode() + b"\x00")
    for blob in (delivery.key, delivery.value):
        h.update(b"-" if blob is None else b"+" + len(blob).to_bytes(8, "big") + blob)
    return h.digest()


def _headers_json(delivery: Delivery) -> list[list[str | None]]:
    """[name, base64 of the value] pairs, byte for byte, without any dlq_* header."""
    return [[_clean(k, 300), base64.b64encode(v).decode() if v is not None else None]
            for k, v in delivery.headers if not k.startswith("dlq_")]


def raw_headers(headers: list[list[str | None]]) -> list[tuple[str, bytes | None]]:
    return [(str(k), base64.b64decode(v) if v is not None else None) for k, v in headers]


def _clean(text: str | None, limit: int = 4000) -> str | None:
    """PostgreSQL text holds no NUL; a poison message may carry one anywhere."""
    return None if text is None else text.replace("\x00", "\\x00")[:limit]


def _header(delivery: Delivery, name: str) -> str | None:
    raw = next((v for k, v in reversed(delivery.headers) if k == name and v is not None), None)
    return _clean(raw.decode(errors="replace"), 300) if raw is not None else None


def record(conn: psycopg.Connection, delivery: Delivery, *, consumer: str, reason: str,
           error: BaseException | str) -> None:
    """Keep one dead letter (in the caller's transaction); a repeat is the same row. Any
    bytes at all (a poison message's headers need be neither UTF-8 nor NUL-free)."""
    conn.execute(_INSERT, (
        fingerprint(delivery, consumer), consumer, reason, _clean(describe_error(error)),
        delivery.topic, delivery.partition, delivery.offset, delivery.key, delivery.value,
        Jsonb(_headers_json(delivery)), _header(delivery, "ce_id"),
        _header(delivery, "ce_type"), _header(delivery, "ce_subject"),
    ))


@dataclass(frozen=True)
class Letter:
    id: int
    consumer: str
    reason: str
    error: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[list[str | None]]
    event_id: str | None
    event_type: str | None
    subject: str | None
    created_at: datetime
    status: str
    resolved_at: datetime | None
    resolved_by: str | None
    note: str | None

    @staticmethod
    def of(row: dict[str, Any]) -> Letter:
        row = dict(row)
        for blob in ("key", "value"):
            row[blob] = bytes(row[blob]) if row[blob] is not None else None
        return Letter(**row)

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "consumer": self.consumer, "reason": self.reason,
                "status": self.status, "event_type": self.event_type, "subject": self.subject,
                "event_id": self.event_id, "created_at": self.created_at.isoformat(),
                "where": f"{self.topic}[{self.partition}]@{self.offset}"}


def letters(conn: psycopg.Connection, *, status: str | None = "open",
            consumer: str | None = None, reason: str | None = None,
            limit: int = 100) -> list[Letter]:
    where, args = ["true"], []
    for column, value in (("status", status), ("consumer", consumer), ("reason", reason)):
        if value is not None:
            where.append(f"{column} = %s")
            args.append(value)
    sql = (f"SELECT {_COLUMNS} FROM dead_letters WHERE {' AND '.join(where)}"
           " ORDER BY id DESC LIMIT %s")
    with conn.cursor(row_factory=dict_row) as cur:
        return [Letter.of(r) for r in cur.execute(sql.encode(), (*args, limit))]


def counts(conn: psycopg.Connection, *, status: str | None = "open") -> dict[tuple[str, str], int]:
    sql = "SELECT consumer, reason, count(*) FROM dead_letters"
    rows = (conn.execute(sql + " WHERE status = %s GROUP BY 1, 2 ORDER BY 1, 2", (status,))
            if status is not None else conn.execute(sql + " GROUP BY 1, 2 ORDER BY 1, 2"))
    return {(r[0], r[1]): int(r[2]) for r in rows}


def one(conn: psycopg.Connection, letter_id: int) -> Letter | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"SELECT {_COLUMNS} FROM dead_letters WHERE id = %s".encode(),
                          (letter_id,)).fetchone()
    return Letter.of(row) if row else None


class NoSuchLetter(LookupError):
    pass


def replay(conn: psycopg.Connection, producer: Any, letter_id: int, *, by: str,
           again: bool = False, ack_timeout: float = 30.0) -> bool:
    """Send the letter's message back to its topic; False when it was resolved before
    (already replayed or discarded) and ``again`` is not set: nothing sent."""
    with conn.transaction():
        with conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(f"SELECT {_COLUMNS} FROM dead_letters WHERE id = %s FOR UPDATE"
                              .encode(), (letter_id,)).fetchone()
        if row is None:
            raise NoSuchLetter(f"no dead letter {letter_id}")
        letter = Letter.of(row)
        if letter.status != "open" and not again:
            return False
        producer.send(letter.topic, key=letter.key, value=letter.value,
                      headers=raw_headers(letter.headers)).get(timeout=ack_timeout)
        conn.execute("UPDATE dead_letters SET status = 'replayed', resolved_at = now(),"
                     " resolved_by = %s, note = NULL WHERE id = %s", (by, letter_id))
    return True


def discard(conn: psycopg.Connection, letter_id: int, *, by: str, reason: str) -> bool:
    """Mark an open letter discarded; False when it was not open."""
    with conn.transaction():
        found = conn.execute("SELECT status FROM dead_letters WHERE id = %s FOR UPDATE",
                             (letter_id,)).fetchone()
        if found is None:
            raise NoSuchLetter(f"no dead letter {letter_id}")
        if found[0] != "open":
            return False
        conn.execute("UPDATE dead_letters SET status = 'discarded', resolved_at = now(),"
                     " resolved_by = %s, note = %s WHERE id = %s", (by, reason, letter_id))
    return True
