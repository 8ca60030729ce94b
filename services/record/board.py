"""The leaders' dashboard's reads of the case summaries (``case_summary``, migration 0009;
this package owns it). The dashboard (services/dashboard/queries.py) turns the rows into its
figures.

    tallies(conn, scope, today)          (first-responder unit, section, referred out, open,
                                         overdue, escalated) rows of every case in a unit of
                                         the scope at some time (the dashboard's
                                         figures.attribute says which unit handles each now)
    week_rows(conn, scope, since, satisfied)
                                         (week number from ``since``, answered, on time,
                                         rated, satisfied) by the week a case was answered
    needing_attention(conn, scope, today)  open cases overdue or escalated, oldest due first
                                         (walks case_summary_attention_idx, migration 0015)
    summary_of(conn, case_id)            the case's row without personal data, or None
    Scope                                the units a leader may see (None: every unit)

Open: not closed and its result not delivered. Overdue: an open case with a breach recorded
by deadline-watch, or, if none is recorded (deadline-watch behind or not running), an open,
unanswered case past its due date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg

_SCOPE = "(%(every_unit)s OR unit_id = ANY(%(units)s))"
# every unit the case has been in (first responder's, a cross-unit referral's): GIN-indexed
_SCOPE_ANY = "(%(every_unit)s OR units && %(units)s::text[])"
_OPEN = "status NOT IN ('closed', 'delivered')"
_OVERDUE = ("(overdue OR (due_date < %(today)s AND replied_at IS NULL"
            " AND completed_at IS NULL))")
_ATTENTION = f"""
SELECT case_id, receipt_number, unit_id, section_id, due_date, {_OVERDUE}, escalated,
       responsible_name, status
FROM case_summary WHERE status <> 'closed' AND {_OPEN} AND ({_OVERDUE} OR escalated)
  AND {_SCOPE_ANY}
ORDER BY due_date NULLS LAST, received_at LIMIT %(limit)s
"""
_TALLIES = f"""
SELECT unit_id, section_id, status = 'referred_out',
       count(*),
       count(*) FILTER (WHERE {_OVERDUE}),
       count(*) FILTER (WHERE escalated)
FROM case_summary WHERE {_OPEN} AND {_SCOPE_ANY}
GROUP BY 1, 2, 3
"""
_ANSWERED = "coalesce(replied_at, completed_at)"
# week number counted from ``since`` (a Monday, 00:00 China time) by plain arithmetic on
# the instant: no time-zone conversion per row (it tripled the query's time at 200k cases),
# in double precision (date_part), not numeric (extract): a fifth less time at 200k cases
_WEEKS = f"""
SELECT floor(date_part('epoch', {_ANSWERED} - %(since)s) / 604800)::int AS week,
       count(*) FILTER (WHERE on_time IS NOT NULL),
       count(*) FILTER (WHERE on_time),
       count(*) FILTER (WHERE rating IS NOT NULL),
       count(*) FILTER (WHERE rating = ANY(%(satisfied)s))
FROM case_summary WHERE {_ANSWERED} >= %(since)s AND {_SCOPE}
GROUP BY week
"""


@dataclass(frozen=True)
class Scope:
    units: frozenset[str] | None  # None: every unit

    def params(self) -> dict[str, Any]:
        return {"every_unit": self.units is None, "units": sorted(self.units or ())}


def tallies(conn: psycopg.Connection, scope: Scope, today: date
            ) -> list[tuple[str, str | None, bool, int, int, int]]:
    rows = conn.execute(_TALLIES, {**scope.params(), "today": today}).fetchall()
    return [(u, s, bool(x), int(o), int(d), int(e)) for u, s, x, o, d, e in rows]


def week_rows(conn: psycopg.Connection, scope: Scope, since: datetime,
              satisfied: Sequence[str]) -> list[tuple[int, int, int, int, int]]:
    """(week number counted from the instant ``since``, answered, answered on time, rated,
    rated one of ``satisfied``) for the weeks with an answer since then."""
    rows = conn.execute(_WEEKS, {**scope.params(), "since": since,
                                 "satisfied": list(satisfied)}).fetchall()
    return [(int(n), int(a), int(t), int(r), int(s)) for n, a, t, r, s in rows]


def needing_attention(conn: psycopg.Connection, scope: Scope, today: date, limit: int = 50
                      ) -> list[dict[str, Any]]:
    cur = conn.execute(_ATTENTION, {**scope.params(), "today": today, "limit": limit})
    names = ("case_id", "receipt_number", "unit_id", "section_id", "due_date", "overdue",
             "escalated", "responsible_name", "status")
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def summary_of(conn: psycopg.Connection, case_id: str) -> dict[str, Any] | None:
    """The case's projection row (no personal data in it), or None if not projected yet."""
    cur = conn.execute(
        "SELECT receipt_number, unit_id, section_id, status, channel, due_date, overdue,"
        " escalated, on_time, rating, complaint_count, missing_haves, received_at,"
        " responsible_name, handler_name, replied_at, completed_at"
        " FROM case_summary WHERE case_id = %s", (case_id,))
    row = cur.fetchone()
    if row is None or cur.description is None:
        return None
    return dict(zip([c.name for c in cur.description], row, strict=True))
