"""The staff console: My cases (held, named on, registered) with their deadlines.

    GET  /console/cases

Session, CSRF, rendering and refusals: console.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.calendar.builtin import today
from services.cases import index as case_index
from services.domain.case import Status
from services.intake.routes import console_deadlines, console_queries
from services.intake.routes.console import (
    _RUNNING,
    PREFIX,
    Session,
    SessionDep,
    _name,
    _render,
)
from services.web.deps import WiringDep

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/cases", response_class=HTMLResponse)
def my_cases(request: Request, session: SessionDep, w: WiringDep,
             closed: bool = False) -> HTMLResponse:
    with w.pool.connection() as conn:
        rows = case_index.my_cases_of(conn, session.directory, session.person, closed=closed)
        facts = console_queries.deadline_facts(conn, [r["case_id"] for r in rows])
    now = datetime.now(UTC)
    return _render(request, "cases.html", {
        "cases": [_row(session, r, facts[r["case_id"]], now) for r in rows], "closed": closed,
        "name": lambda s: _name(session.directory, s)}, session=session)


def _row(session: Session, row: dict[str, Any], facts: list[console_deadlines.Fact],
         now: datetime) -> dict[str, Any]:
    me, due = session.me, row["due_date"]
    running = Status(row["status"]) in _RUNNING
    deadlines = console_deadlines.in_force(facts, now)
    return {**row, "handler": _name(session.directory, row["handler_id"]),
            "deadlines": deadlines, "ladder": console_deadlines.ladder(facts),
            "breached": console_deadlines.overdue(deadlines),
            "named": row["awaiting_handoff_to"] == me,
            "holds": me in (row["handler_id"], row["responsible_id"]),
            "registered": row["first_responder_id"] == me,
            "overdue": bool(due and running and due < today()),
            "due_today": bool(due and running and due == today())}
