"""The access audit: who read whose history, exported which unit-period, bundled which case.
Owner of the ``access_audit`` table (migration 0009; append-only, triggers refuse UPDATE,
DELETE and TRUNCATE). The ledger's API and CLI and proof's bundles write a row in the
transaction of their read, before anything is shown.

    record_access(conn, reader=, action=, via=, ...)   one access_audit row
    accesses(conn, case_id=None, reader=None)          the audit, oldest first
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row


def record_access(conn: psycopg.Connection, *, reader: str, action: str, via: str,
                  personal_data: bool, case_id: str | None = None,
                  unit_id: str | None = None, period_from: date | None = None,
                  period_to: date | None = None, as_of: datetime | None = None,
                  format: str | None = None, rows: int | None = None) -> int:
    row = conn.execute(
        "INSERT INTO access_audit (reader, action, via, case_id, unit_id, period_from,"
        " period_to, as_of, personal_data, format, rows)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (reader, action, via, case_id, unit_id, period_from, period_to, as_of, personal_data,
         format, rows)).fetchone()
    assert row is not None
    return int(row[0])


def accesses(conn: psycopg.Connection, *, case_id: str | None = None,
             reader: str | None = None) -> list[dict[str, Any]]:
    where = ["true"]
    params: list[Any] = []
    for column, value in (("case_id", case_id), ("reader", reader)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT * FROM access_audit WHERE {' AND '.join(where)}"
                           " ORDER BY id", params).fetchall()
