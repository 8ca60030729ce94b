"""Reading the writers' case index (``case_index``, owned by this package: written only by
``CaseRepository`` in the transaction of every append). Other packages read it here.

    case_of_receipt(conn, receipt_number)       the case id, or None
    receipt_and_version(conn, case_id)          (receipt number, stream version), or None
    case_ids_after(conn, after, limit)          case ids in id order, after ``after``: a walk
                                                over every case, page by page
    opened_between(conn, by, subject_id, start, end)
                                                case ids of a responsible person (by="staff")
                                                or a receiving unit (by="unit"), opened in
                                                [start, end)

The scope of a staff member's lists is ``access.scope_filter``.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

_BY = {"staff": "responsible_id", "unit": "unit_id"}


def case_of_receipt(conn: psycopg.Connection, receipt_number: str) -> str | None:
    row = conn.execute("SELECT case_id FROM case_index WHERE receipt_number = %s",
                       (receipt_number,)).fetchone()
    return str(row[0]) if row else None


def receipt_and_version(conn: psycopg.Connection, case_id: str) -> tuple[str, int] | None:
    row = conn.execute("SELECT receipt_number, version FROM case_index WHERE case_id = %s",
                       (case_id,)).fetchone()
    return (str(row[0]), int(row[1])) if row else None


def case_ids_after(conn: psycopg.Connection, after: str, limit: int) -> list[str]:
    return [str(r[0]) for r in conn.execute(
        "SELECT case_id FROM case_index WHERE case_id > %s ORDER BY case_id LIMIT %s",
        (after, limit))]


def opened_between(conn: psycopg.Connection, by: str, subject_id: str,
                   start: datetime, end: datetime) -> list[str]:
    """``by``: "staff" or "unit" (anything else: KeyError)."""
    return [str(r[0]) for r in conn.execute(
        f"SELECT case_id FROM case_index WHERE {_BY[by]} = %s AND opened_at >= %s"
        " AND opened_at < %s", (subject_id, start, end))]
