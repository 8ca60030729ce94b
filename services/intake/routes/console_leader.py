"""The staff console: the leader queue: escalations to me, transfers and extensions to decide.

    GET  /console/leader

Session, CSRF, rendering and refusals: console.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.cases import index as case_index
from services.cases.access import Loaded
from services.intake import commands
from services.intake.routes import console_deadlines
from services.intake.routes.console import (
    PREFIX,
    Session,
    SessionDep,
    _actor,
    _message,
    _name,
    _render,
)
from services.intake.routes.console_case import (
    _permitted,
)
from services.web.deps import WiringDep

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/leader", response_class=HTMLResponse)
def leader_queue(request: Request, session: SessionDep, w: WiringDep) -> HTMLResponse:
    if not session.is_leader:
        return _message(request, 403, "领导待办 Leader queue",
                        "仅限领导。For section chiefs and leaders only.", session)
    queue: dict[str, list[dict[str, Any]]] = {"escalations": [], "transfers": [],
                                              "extensions": []}
    with w.pool.connection() as conn:
        for case_id in case_index.leader_queue(conn, session.directory, session.person):
            loaded = commands.load_visible(w.repo, conn, session.directory, session.person,
                                           case_id)
            _enqueue(queue, session, loaded)
    return _render(request, "leader.html", {"queue": queue, "name": lambda s:
                                            _name(session.directory, s)}, session=session)


# queue -> (the flag on the case, the request event, the decision it awaits)
_PENDING = {"transfers": ("transfer_pending", "transfer_requested", "decide_transfer"),
            "extensions": ("extension_pending", "extension_requested", "decide_extension")}


def _enqueue(queue: dict[str, list[dict[str, Any]]], session: Session, loaded: Loaded) -> None:
    state, d = loaded.state, session.directory
    item = {"state": state, "version": state.version,
            "colleagues": [p for p in d.people.values()
                           if p.staff.on_duty and p.unit.id in state.units]}
    mine = [e for e in loaded.events if e.type.split(".")[2] == "escalated"
            and e.data["leader"]["id"] == session.me]
    if mine:
        facts = [(e.type.split(".")[2], e.data, e.time) for e in loaded.events]
        queue["escalations"].append({
            **item, "asked": mine[-1].data, "by": _actor(d, mine[-1].actor), "at": mine[-1].time,
            "deadlines": console_deadlines.in_force(facts, datetime.now(UTC))})
    for kind, (flag, request_name, decision) in _PENDING.items():
        asked = loaded.last(request_name)
        if getattr(state, flag) and asked and _permitted(session, loaded, decision):
            queue[kind].append({**item, "asked": asked.data, "by": _actor(d, asked.actor)})
