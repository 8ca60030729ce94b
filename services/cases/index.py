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
    receipts_of(conn, case_ids)                 {case id: receipt number} of those found
    cases_of_receipts(conn, receipt_numbers)    {receipt number: case id} of those found

The lists (each scoped in SQL by ``access.scope_filter``, whose arms indexes answer):

    visible_page(conn, directory, person, ...)  (total, rows) of the cases a caller sees,
                                                newest first (intake's case list)
    my_cases_of(conn, directory, person, ...)   the console's "my cases": held, awaited or
                                                registered by the caller
    leader_queue(conn, directory, person)       case ids escalated to the caller or asking a
                                                transfer or an extension, oldest change first

Counts:

    open_load(conn, staff_ids, statuses)        {staff: cases they handle or that await their
                                                handoff, in those statuses} (routing; two
                                                index look-ups, migration 0005)
    open_handled(conn, staff_ids)               {staff: not-closed cases they handle}
                                                (Open311's first responder)
    unit_figures(conn, running, today)          {unit: (open, overdue, escalated)} (exporter)
    public_requests(conn, ...)                  Open311's list of requests made through it
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from services.cases.access import scope_filter
from services.directory.index import DirectoryIndex, Person

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


def receipts_of(conn: psycopg.Connection, case_ids: Iterable[str]) -> dict[str, str]:
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    return {str(c): str(r) for c, r in conn.execute(
        "SELECT case_id, receipt_number FROM case_index WHERE case_id = ANY(%s)", (ids,))}


def cases_of_receipts(conn: psycopg.Connection, receipt_numbers: Iterable[str]
                      ) -> dict[str, str]:
    return {str(r): str(c) for r, c in conn.execute(
        "SELECT receipt_number, case_id FROM case_index WHERE receipt_number = ANY(%s)",
        (list(receipt_numbers),))}


LIST_COLUMNS = ("case_id, receipt_number, unit_id, status, channel, handler_id, responsible_id,"
                " awaiting_handoff_to, section_id, matter_type_code, due_date, transfer_pending,"
                " extension_pending, version, opened_at, updated_at")


def visible_page(conn: psycopg.Connection, directory: DirectoryIndex, person: Person, *,
                 status: str | None = None, mine: bool = False, limit: int = 50,
                 offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """(how many, one page of ``LIST_COLUMNS`` rows), newest first. ``mine``: the caller
    handles it, is responsible, or it awaits them."""
    scope, params = scope_filter(person, directory)
    where = [scope]
    if status is not None:
        where.append("status = %(status)s")
        params["status"] = status
    if mine:
        where.append("(handler_id = %(me)s OR responsible_id = %(me)s"
                     " OR awaiting_handoff_to = %(me)s)")
        params["me"] = person.staff.id
    cond = " AND ".join(where)
    with conn.cursor(row_factory=dict_row) as cur:
        total = cur.execute(f"SELECT count(*) AS n FROM case_index WHERE {cond}",
                            params).fetchone()
        rows = cur.execute(
            f"SELECT {LIST_COLUMNS} FROM case_index WHERE {cond}"
            " ORDER BY opened_at DESC, case_id DESC LIMIT %(limit)s OFFSET %(offset)s",
            {**params, "limit": limit, "offset": offset},
        ).fetchall()
    return (int(total["n"]) if total else 0), rows


_MINE = ("(handler_id = %(me)s OR responsible_id = %(me)s OR awaiting_handoff_to = %(me)s"
         " OR first_responder_id = %(me)s)")


def my_cases_of(conn: psycopg.Connection, directory: DirectoryIndex, person: Person, *,
                 closed: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    """Cases the caller handles, is responsible for, registered or is awaited for (with the
    closed ones if ``closed``): those awaiting the caller first, then soonest due."""
    scope, params = scope_filter(person, directory)
    where = f"{scope} AND {_MINE}" + ("" if closed else " AND status <> 'closed'")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT case_id, receipt_number, status, channel, handler_id, first_responder_id,"
            " responsible_id, awaiting_handoff_to, due_date, opened_at FROM case_index"
            f" WHERE {where} ORDER BY awaiting_handoff_to = %(me)s DESC NULLS LAST,"
            f" due_date ASC NULLS LAST, opened_at DESC LIMIT {int(limit)}",
            {**params, "me": person.staff.id}).fetchall()


_QUEUE = ("status <> 'closed' AND (%(me)s = ANY(escalated_to) OR transfer_pending"
          " OR extension_pending)")


def leader_queue(conn: psycopg.Connection, directory: DirectoryIndex, person: Person, *,
                 limit: int = 200) -> list[str]:
    """Open cases the caller sees that were escalated to them or ask a transfer or an
    extension (whether this leader may decide it is the caller's to check)."""
    scope, params = scope_filter(person, directory)
    rows = conn.execute(f"SELECT case_id FROM case_index WHERE {scope} AND {_QUEUE}"
                        f" ORDER BY updated_at LIMIT {int(limit)}",
                        {**params, "me": person.staff.id}).fetchall()
    return [str(r[0]) for r in rows]


_OPEN_LOAD = """
SELECT who, count(*) FROM (
    SELECT handler_id AS who FROM case_index
    WHERE handler_id = ANY(%(ids)s) AND status = ANY(%(open)s) AND awaiting_handoff_to IS NULL
    UNION ALL
    SELECT awaiting_handoff_to FROM case_index
    WHERE awaiting_handoff_to = ANY(%(ids)s) AND status = ANY(%(open)s)) AS work
GROUP BY who
"""


def open_load(conn: psycopg.Connection, staff_ids: Sequence[str], statuses: Sequence[str]
              ) -> dict[str, int]:
    """{staff id: cases in ``statuses`` they handle, or that await their handoff}; a staff
    member with none is absent. Two index look-ups (handler; handoff, migration 0005)."""
    return {str(who): int(n) for who, n in conn.execute(
        _OPEN_LOAD, {"ids": list(staff_ids), "open": list(statuses)})}


def open_handled(conn: psycopg.Connection, staff_ids: Sequence[str]) -> dict[str, int]:
    """{staff id: not-closed cases they handle}; a staff member with none is absent."""
    rows = conn.execute(
        "SELECT handler_id, count(*) FROM case_index WHERE handler_id = ANY(%s)"
        " AND status <> 'closed' GROUP BY handler_id", (list(staff_ids),),
    )
    return {str(r[0]): int(r[1]) for r in rows}


_UNITS = """
SELECT unit_id, count(*),
       count(*) FILTER (WHERE status = ANY(%s) AND due_date < %s),
       count(*) FILTER (WHERE cardinality(escalated_to) > 0)
FROM case_index WHERE status <> 'closed' GROUP BY unit_id
"""


def unit_figures(conn: psycopg.Connection, running: Sequence[str], today: date
                 ) -> dict[str, tuple[int, int, int]]:
    """{unit: (open cases, of them in ``running`` statuses and past due, escalated)}."""
    rows = conn.execute(_UNITS, (list(running), today)).fetchall()
    return {str(unit): (int(o), int(d), int(e)) for unit, o, d, e in rows}


# The first event's matter and location travel beside the index row (Open311 publishes them);
# the filters are in SQL so that the limit applies to what matches.
_PUBLIC = """
SELECT * FROM (
  SELECT ci.receipt_number, ci.status, ci.unit_id, ci.section_id, ci.due_date, ci.opened_at,
         ci.updated_at, coalesce(ci.matter_type_code,
           substring(e.data->>'matter' from '^\\[([A-Za-z0-9._-]+)\\]')) AS service_code,
         e.data->>'matter' AS matter, e.data->'problem_location' AS location
  FROM case_index ci JOIN events e ON e.stream_id = ci.case_id AND e.version = 1
  WHERE e.source = %(source)s
) r
WHERE (%(ids)s::text[] IS NULL OR r.receipt_number = ANY(%(ids)s))
  AND (%(codes)s::text[] IS NULL OR r.service_code = ANY(%(codes)s))
  AND (%(statuses)s::text[] IS NULL OR (CASE WHEN r.status = 'closed' THEN 'closed'
                                        ELSE 'open' END) = ANY(%(statuses)s))
  AND (%(start)s::timestamptz IS NULL OR r.opened_at >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR r.opened_at <= %(end)s)
ORDER BY r.opened_at DESC LIMIT %(limit)s
"""


def public_requests(conn: psycopg.Connection, *, source: str, ids: list[str] | None,
                    codes: list[str] | None, statuses: list[str] | None,
                    start: datetime | None, end: datetime | None, limit: int
                    ) -> list[dict[str, Any]]:
    """Cases received from ``source``, newest first, with their service code (the matter
    code, else the one the received matter names), matter text and problem location;
    ``None`` filters are off; ``statuses`` are "open" and "closed"."""
    params = {"source": source, "ids": ids, "codes": codes, "statuses": statuses,
              "start": start, "end": end, "limit": limit}
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_PUBLIC, params).fetchall()
