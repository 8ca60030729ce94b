"""The staff member's in-app inbox (``staff_inbox``, migration 0008): this package owns it.

    put(conn, staff_id=, source_event_id=, recipient=, case_id=, subject=, body=)
                                              notification's sender: one row per in-app
                                              message, once (ON CONFLICT DO NOTHING)
    put_many(conn, rows)                      the same for a round's messages, one statement
    unread_count(conn, staff_id)              the number in the console's navigation
    inbox(conn, staff_id, unread_only, limit) newest first (the case id; its receipt number is
                                              services/cases/index.receipts_of's)
    owns_message(conn, staff_id, id)          whether the message is the reader's own
    mark_read(conn, staff_id, ids | None)     None: all of them; only the reader's own rows

A library below the services: the notification service writes through it, intake's console
reads and marks through it, and neither imports the other nor touches the table itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row


def put(conn: psycopg.Connection, *, staff_id: str | None, source_event_id: UUID | str,
        recipient: str, case_id: str | None, subject: str, body: str) -> None:
    conn.execute(
        "INSERT INTO staff_inbox (staff_id, source_event_id, recipient, case_id, subject, body)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (staff_id, source_event_id, recipient, case_id, subject, body))


def put_many(conn: psycopg.Connection,
             rows: Sequence[tuple[str | None, UUID | str, str, str | None, str, str]]) -> None:
    """``put`` for many (staff_id, source_event_id, recipient, case_id, subject, body) rows:
    one statement, each row once."""
    if not rows:
        return
    rows = sorted(rows, key=lambda r: (str(r[1]), r[2]))
    staff, events, recipients, cases, subjects, bodies = (list(c) for c in zip(*rows,
                                                                                strict=True))
    conn.execute(
        "INSERT INTO staff_inbox (staff_id, source_event_id, recipient, case_id, subject, body)"
        " SELECT * FROM unnest(%s::text[], %s::uuid[], %s::text[], %s::text[], %s::text[],"
        " %s::text[]) ON CONFLICT DO NOTHING",
        (staff, [str(e) for e in events], recipients, cases, subjects, bodies))


def unread_count(conn: psycopg.Connection, staff_id: str) -> int:
    row = conn.execute("SELECT count(*) FROM staff_inbox WHERE staff_id = %s"
                       " AND read_at IS NULL", (staff_id,)).fetchone()
    return int(row[0]) if row else 0


def inbox(conn: psycopg.Connection, staff_id: str, *, unread_only: bool = False,
          limit: int = 200) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, case_id, subject, body, created_at, read_at FROM staff_inbox"
            " WHERE staff_id = %s" + (" AND read_at IS NULL" if unread_only else "") +
            " ORDER BY created_at DESC, id DESC LIMIT %s", (staff_id, limit)).fetchall()


def mark_read(conn: psycopg.Connection, staff_id: str, ids: Sequence[int] | None) -> int:
    """How many of the reader's unread messages are now read (others' rows never match)."""
    if ids is None:
        cur = conn.execute("UPDATE staff_inbox SET read_at = now() WHERE staff_id = %s"
                           " AND read_at IS NULL", (staff_id,))
    else:
        cur = conn.execute("UPDATE staff_inbox SET read_at = now() WHERE staff_id = %s"
                           " AND id = ANY(%s) AND read_at IS NULL", (staff_id, list(ids)))
    return cur.rowcount


def owns_message(conn: psycopg.Connection, staff_id: str, message_id: int) -> bool:
    row = conn.execute("SELECT 1 FROM staff_inbox WHERE staff_id = %s AND id = %s",
                       (staff_id, message_id)).fetchone()
    return row is not None
