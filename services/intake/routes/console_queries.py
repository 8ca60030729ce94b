"""The console's own reads and writes beside the commands: the in-app inbox, deadline facts.

    staff_inbox (migration 0008; the notification service writes a row per in-app message,
    the console sets read_at when its reader marks it read)
        unread_count(conn, staff_id)              the number in the navigation
        inbox(conn, staff_id, unread_only, limit) newest first, with the case's receipt number
        mark_read(conn, staff_id, ids | None)     None: all of them; only the reader's own rows

    events (the store)
        deadline_facts(conn, case_ids)            case -> its deadline_* and escalated events,
                                                  for console_deadlines (My cases, the queue)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from services.intake.routes.console_deadlines import DEADLINE_STEPS, Fact

_FACT_TYPES = [f"shouwen.case.{step}.v1" for step in (*DEADLINE_STEPS, "escalated")]


def unread_count(conn: psycopg.Connection, staff_id: str) -> int:
    row = conn.execute("SELECT count(*) FROM staff_inbox WHERE staff_id = %s"
                       " AND read_at IS NULL", (staff_id,)).fetchone()
    return int(row[0]) if row else 0


def inbox(conn: psycopg.Connection, staff_id: str, *, unread_only: bool = False,
          limit: int = 200) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT m.id, m.case_id, m.subject, m.body, m.created_at, m.read_at,"
            " c.receipt_number FROM staff_inbox m LEFT JOIN case_index c USING (case_id)"
            " WHERE m.staff_id = %s" + (" AND m.read_at IS NULL" if unread_only else "") +
            " ORDER BY m.created_at DESC, m.id DESC LIMIT %s", (staff_id, limit)).fetchall()


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


def deadline_facts(conn: psycopg.Connection, case_ids: Sequence[str]) -> dict[str, list[Fact]]:
    out: dict[str, list[Fact]] = {c: [] for c in case_ids}
    if not case_ids:
        return out
    rows = conn.execute(
        "SELECT stream_id, type, data, time FROM events WHERE stream_id = ANY(%s)"
        " AND type = ANY(%s) ORDER BY stream_id, version", (list(case_ids), _FACT_TYPES))
    for case_id, kind, data, at in rows:
        out[case_id].append((kind.split(".")[2], data, at))
    return out
