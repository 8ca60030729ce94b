"""Reading the ledger's tables, for this service and the ones built on it (accountability,
evaluation, dashboards, proof bundles). Names here and the columns of migration
0009_ledger.sql are a contract: keep them stable.

    summary(conn, case_id)                     one case_summary row (dict) or None
    summaries(conn, unit_id=, section_id=, responsible_id=, since=, until=, open_only=)
                                               case_summary rows, newest first
    stats(conn, by="unit"|"section"|"person", unit_id=None, since=None, until=None)
                                               received, open, overdue, on_time, replied,
                                               satisfied, dissatisfied, rated, complaints
                                               per unit / (unit, section) / responsible person,
                                               for cases received in [since, until)
    ledger(conn, unit_id, since, until)        the 台账 rows of a unit's cases received in
                                               [since, until) — PERSONAL DATA: only for
                                               readers entitled to that unit's inquirers

The access audit (access_audit) is services/record/audit.py's.

Times are timestamptz (UTC); ``since``/``until`` may be dates (midnight in Asia/Shanghai)
or aware datetimes. The stats are GROUP BYs over case_summary; the views
ledger_stats_unit/_section/_person give the same numbers over all time.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from services.record.projection import LOCAL

When = date | datetime | None
_COUNTS = (
    "count(*) AS received,"
    " count(*) FILTER (WHERE status <> 'closed') AS open,"
    " count(*) FILTER (WHERE overdue) AS overdue,"
    " count(*) FILTER (WHERE on_time) AS on_time,"
    " count(*) FILTER (WHERE replied_at IS NOT NULL) AS replied,"
    " count(*) FILTER (WHERE rating IN ('非常满意', '满意', '基本满意')) AS satisfied,"
    " count(*) FILTER (WHERE rating IN ('不满意', '非常不满意')) AS dissatisfied,"
    " count(*) FILTER (WHERE rating IS NOT NULL) AS rated,"
    " coalesce(sum(complaint_count), 0)::int AS complaints"
)
_GROUPS = {
    "unit": ("unit_id", "unit_id"),
    "section": ("unit_id, section_id", "unit_id, section_id"),
    "person": ("responsible_id AS staff_id, max(responsible_name) AS name", "responsible_id"),
}


def instant(value: When) -> datetime | None:
    """A date is its local midnight (the official calendar's day); a datetime stays."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0), tzinfo=LOCAL)


def _where(**filters: Any) -> tuple[str, list[Any]]:
    clauses, params = ["true"], []
    for column, value in filters.items():
        if value is None:
            continue
        if column == "since":
            clauses.append("received_at >= %s")
            params.append(instant(value))
        elif column == "until":
            clauses.append("received_at < %s")
            params.append(instant(value))
        elif column == "open_only":
            clauses.append("status <> 'closed'" if value else "true")
        else:
            clauses.append(f"{column} = %s")
            params.append(value)
    return " AND ".join(clauses), params


def _rows(conn: psycopg.Connection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return list(cur.execute(sql, params))


def summary(conn: psycopg.Connection, case_id: str) -> dict[str, Any] | None:
    rows = _rows(conn, "SELECT * FROM case_summary WHERE case_id = %s", [case_id])
    return rows[0] if rows else None


def summaries(conn: psycopg.Connection, *, unit_id: str | None = None,
              section_id: str | None = None, responsible_id: str | None = None,
              since: When = None, until: When = None, open_only: bool = False,
              limit: int = 1000) -> list[dict[str, Any]]:
    where, params = _where(unit_id=unit_id, section_id=section_id,
                           responsible_id=responsible_id, since=since, until=until,
                           open_only=open_only)
    return _rows(conn, f"SELECT * FROM case_summary WHERE {where}"
                       " ORDER BY received_at DESC, case_id LIMIT %s", [*params, limit])


def stats(conn: psycopg.Connection, by: Literal["unit", "section", "person"] = "unit", *,
          unit_id: str | None = None, since: When = None,
          until: When = None) -> list[dict[str, Any]]:
    if by not in _GROUPS:
        raise ValueError(f"by must be unit, section or person, not {by!r}")
    select, group = _GROUPS[by]
    where, params = _where(unit_id=unit_id, since=since, until=until)
    if by == "section":
        where += " AND section_id IS NOT NULL"
    return _rows(conn, f"SELECT {select}, {_COUNTS} FROM case_summary WHERE {where}"
                       f" GROUP BY {group} ORDER BY {group}", params)


def ledger(conn: psycopg.Connection, unit_id: str, since: When,
           until: When) -> list[dict[str, Any]]:
    where, params = _where(unit_id=unit_id, since=since, until=until)
    return _rows(conn, f"SELECT * FROM ledger_rows WHERE {where}"
                       " ORDER BY received_at, receipt_number", params)
