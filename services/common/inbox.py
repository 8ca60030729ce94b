"""The consumer inbox: "consumer C has handled event E", written in the same transaction as
C's own effects, so that an at-least-once redelivery changes nothing."""

from __future__ import annotations

from uuid import UUID

import psycopg


def record(conn: psycopg.Connection, consumer: str, event_id: UUID) -> bool:
    """Mark ``event_id`` handled by ``consumer`` inside the caller's transaction.
    Returns False when it was handled before (the caller must then do nothing)."""
    row = conn.execute(
        "INSERT INTO inbox (consumer, event_id) VALUES (%s, %s)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        (consumer, event_id),
    ).fetchone()
    return row is not None


def handled(conn: psycopg.Connection, consumer: str) -> int:
    row = conn.execute("SELECT count(*) FROM inbox WHERE consumer = %s", (consumer,)).fetchone()
    return int(row[0]) if row else 0
