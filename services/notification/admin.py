"""An operator's view of delivery records, and the two things they may do to one.

    deliveries(conn, stuck=, max_attempts=, limit=)   newest first; stuck: not finished and
        (over or at the attempt limit, or with an error, or waiting over STUCK_AFTER), or
        failed (given up)
    retry(conn, id)         failed / cancelled / pending / orphaned 'sending' -> pending now,
                            attempts from 0; 'sent' is refused (it went out), and so is a
                            record a live sender holds ('sending' with its lease running)
    cancel(conn, id, by=, reason=)   not sent yet -> 'cancelled', never sent; who and why kept

A retried record's message goes out once at most: a delivered mark is kept, so a record
whose message the channel took is only recorded on the case, not sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from services.notification.session import SENDERS

STUCK_AFTER = timedelta(minutes=30)

_COLUMNS = ("id, case_id, recipient, channel, template, state, attempts, last_error,"
            " next_attempt_at, created_at, delivered_at, cancelled_by")


@dataclass(frozen=True)
class Row:
    id: int
    case_id: str
    recipient: str
    channel: str
    template: str
    state: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    cancelled_by: str | None

    def line(self) -> str:
        error = f"  {self.last_error[:120]}" if self.last_error else ""
        return (f"{self.id:>8}  {self.state:<9} {self.attempts:>3}  {self.channel:<7} "
                f"{self.case_id}  {self.recipient}  {self.template}{error}")


class Refused(Exception):
    pass


def deliveries(conn: psycopg.Connection, *, stuck: bool, max_attempts: int,
               limit: int = 100) -> list[Row]:
    where = "true"
    args: list[Any] = []
    if stuck:
        where = ("state = 'failed' OR (state IN ('pending', 'sending') AND (attempts >= %s"
                 " OR last_error IS NOT NULL OR created_at < now() - %s))")
        args = [max_attempts, STUCK_AFTER]
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(f"SELECT {_COLUMNS} FROM notification_deliveries WHERE {where}"
                           " ORDER BY id DESC LIMIT %s".encode(), (*args, limit)).fetchall()
    return [Row(**r) for r in rows]


def _locked(conn: psycopg.Connection, delivery_id: int) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT state, next_attempt_at > now() AS leased, claimed_by,"
                          " claimed_by IS NOT NULL AND pg_try_advisory_lock(%s, claimed_by)"
                          " AS orphan FROM notification_deliveries WHERE id = %s FOR UPDATE",
                          (SENDERS, delivery_id)).fetchone()
    if row is None:
        raise Refused(f"no delivery {delivery_id}")
    if row["orphan"]:  # we got its claimer's lock: that sender is gone; let the lock go
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (SENDERS, row["claimed_by"]))
    if row["state"] == "sent":
        raise Refused(f"delivery {delivery_id} was sent: nothing to do")
    if row["state"] == "sending" and row["leased"] and not row["orphan"]:
        raise Refused(f"delivery {delivery_id} is being sent by a live sender; try later")
    return row


def retry(conn: psycopg.Connection, delivery_id: int) -> None:
    with conn.transaction():
        _locked(conn, delivery_id)
        conn.execute("UPDATE notification_deliveries SET state = 'pending', attempts = 0,"
                     " next_attempt_at = now(), finished_at = NULL, cancelled_by = NULL,"
                     " claimed_by = NULL, last_error = NULL WHERE id = %s", (delivery_id,))


def cancel(conn: psycopg.Connection, delivery_id: int, *, by: str, reason: str) -> None:
    with conn.transaction():
        row = _locked(conn, delivery_id)
        if row["state"] == "cancelled":
            return  # idempotent
        conn.execute("UPDATE notification_deliveries SET state = 'cancelled',"
                     " finished_at = now(), cancelled_by = %s, claimed_by = NULL,"
                     " last_error = %s WHERE id = %s",
                     (by, f"cancelled by {by}: {reason}", delivery_id))
