"""The accountability tables (migration 0011), written inside the caller's transaction.

    save_procedure(conn, state)        accountability_procedures: stage, due date, against
    case_of(conn, procedure_id)        which case's stream holds the procedure
    list_procedures(conn, open_only)   the supervisors' list, soonest due first
    prior_violations(conn, ids, pid)   findings in force of each person in OTHER procedures;
                                       locks each person for the rest of the transaction, so
                                       two decisions about one person count one after the other
    sync_findings(conn, state)         the findings of a decision, or of its review
    add_assessment / latest_assessment the assessment group's yearly scores (insert-only)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from services.accountability.procedure import ProcedureState, Stage
from services.cases import index as case_index

_LOCK = "shouwen.accountability.person:"


def save_procedure(conn: psycopg.Connection, s: ProcedureState) -> None:
    conn.execute(
        "INSERT INTO accountability_procedures (procedure_id, case_id, stage,"
        " against_staff_ids, against_unit_id, complaint_event_id, due_date, opened_at,"
        " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (procedure_id) DO UPDATE SET stage = EXCLUDED.stage,"
        " due_date = EXCLUDED.due_date, updated_at = EXCLUDED.updated_at",
        (s.procedure_id, s.case_id, s.stage.value, list(s.against_staff_ids),
         s.against_unit_id, s.complaint_event_id, s.due, s.opened_at,
         s.steps[-1].time if s.steps else datetime.now(UTC)))


def case_of(conn: psycopg.Connection, procedure_id: str) -> str | None:
    row = conn.execute("SELECT case_id FROM accountability_procedures WHERE procedure_id = %s",
                       (procedure_id,)).fetchone()
    return str(row[0]) if row else None


def opened_for(conn: psycopg.Connection, complaint_event_id: str) -> str | None:
    row = conn.execute("SELECT procedure_id FROM accountability_procedures"
                       " WHERE complaint_event_id = %s", (complaint_event_id,)).fetchone()
    return str(row[0]) if row else None


def list_procedures(conn: psycopg.Connection, *, open_only: bool = True,
                    limit: int = 200) -> list[dict[str, Any]]:
    where = "WHERE p.stage <> 'closed'" if open_only else ""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT p.procedure_id, p.case_id, p.stage, p.against_staff_ids,"
            " p.against_unit_id, p.due_date, p.opened_at, p.updated_at"
            " FROM accountability_procedures p"
            f" {where} ORDER BY p.due_date ASC NULLS LAST, p.opened_at LIMIT %s",
            (limit,)).fetchall()
    receipts = case_index.receipts_of(conn, [r["case_id"] for r in rows])
    return [{**r, "receipt_number": receipts.get(r["case_id"])} for r in rows]


def prior_violations(conn: psycopg.Connection, staff_ids: list[str], procedure_id: str,
                     *, lock: bool = True) -> dict[str, int]:
    for staff_id in sorted(set(staff_ids)) if lock else ():  # one order: no deadlock
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_LOCK + staff_id,))
    rows = conn.execute(
        "SELECT staff_id, count(*) FROM accountability_findings WHERE staff_id = ANY(%s)"
        " AND procedure_id <> %s AND sanction <> 'none' GROUP BY staff_id",
        (list(staff_ids), procedure_id)).fetchall()
    counts = {str(s): int(n) for s, n in rows}
    return {s: counts.get(s, 0) for s in staff_ids}


def sync_findings(conn: psycopg.Connection, s: ProcedureState) -> None:
    """The procedure's findings as the decision (or the review) left them."""
    conn.execute("DELETE FROM accountability_findings WHERE procedure_id = %s",
                 (s.procedure_id,))
    if s.stage not in (Stage.decided, Stage.reviewed) or not s.upheld:
        return
    when = s.steps[-1].time
    for r in s.responsibilities:
        conn.execute(
            "INSERT INTO accountability_findings (procedure_id, staff_id, case_id, kind,"
            " sanction, violation_number, decided_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (s.procedure_id, r["staff_id"], s.case_id, r["kind"], r["sanction"],
             r["violation_number"], when))


def add_assessment(conn: psycopg.Connection, kind: str, subject_id: str, year: int,
                   score: float, note: str | None, assessed_by: str) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO assessment_scores (subject_kind, subject_id, year, score, note,"
            " assessed_by) VALUES (%s, %s, %s, %s, %s, %s) RETURNING subject_kind, subject_id,"
            " year, score::float8 AS score, note, assessed_by, recorded_at",
            (kind, subject_id, year, score, note, assessed_by)).fetchone()
    assert row is not None
    return row


def latest_assessment(conn: psycopg.Connection, kind: str, subject_id: str,
                      year: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT score::float8 AS score, note, assessed_by, recorded_at FROM assessment_scores"
            " WHERE subject_kind = %s AND subject_id = %s AND year = %s ORDER BY id DESC"
            " LIMIT 1", (kind, subject_id, year)).fetchone()
