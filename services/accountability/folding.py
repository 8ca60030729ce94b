"""A procedure folded from the events on its case's stream (``procedure_id`` picks it out).

    fold(case_id, procedure_id, events, rules) -> ProcedureState | None (never opened)
                                    rules: the unit's time limits (default: the presets on
                                    the national calendar)

Each step's date is its civil date (Asia/Shanghai): time limits count in the units' days.
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from events import CloudEvent
from events.accountability import ClosingGround
from services.accountability.procedure import PREFIX, STEP_EVENTS, ProcedureState, Stage, Step
from services.calendar import CIVIL_TIME
from services.calendar.limits import UnitRules, national


def civil_date(when: datetime) -> date:
    return when.astimezone(CIVIL_TIME).date()


def procedure_events(events: list[CloudEvent], procedure_id: str) -> list[CloudEvent]:
    names = {PREFIX + n for n in STEP_EVENTS}
    return [e for e in events if e.type.rsplit(".", 1)[0] in names
            and e.data.get("procedure_id") == procedure_id]


def fold(case_id: str, procedure_id: str, events: list[CloudEvent],
         rules: UnitRules | None = None) -> ProcedureState | None:
    """The procedure from the case's events (None if it was never opened)."""
    state: ProcedureState | None = None
    for e in procedure_events(events, procedure_id):
        name = e.type.split(".")[2]
        if state is None:
            if name != "accountability_opened":
                continue
            state = ProcedureState(procedure_id, case_id, rules=rules or national())
        state = _apply(state, name, e)
    return state


def _apply(s: ProcedureState, name: str, e: CloudEvent) -> ProcedureState:
    d, day = e.data, civil_date(e.time)
    s = replace(s, steps=(*s.steps, Step(name, e.time, e.actor, d)))
    if name == "accountability_opened":
        return replace(s, opened_at=e.time, against_staff_ids=tuple(d["against_staff_ids"]),
                       against_unit_id=d.get("against_unit_id"),
                       complaint_event_id=d.get("complaint_event_id"))
    if name == "preliminary_verified":
        return replace(s, stage=Stage.verified if d["proceed"] else Stage.dismissed)
    if name == "proposal_written":
        return replace(s, stage=Stage.proposed)
    if name == "investigation_started":
        return replace(s, stage=Stage.investigating, investigation_started=day,
                       limit_working_days=d["limit_working_days"])
    if name == "investigation_extended":
        return replace(s, extended=True,
                       extra_working_days=s.extra_working_days + d["extra_working_days"])
    if name == "accountability_decided":
        return replace(s, stage=Stage.decided, decided_on=day, upheld=d["upheld"],
                       responsibilities=tuple(d["responsibilities"]))
    if name == "decision_delivered":
        return replace(s, stage=Stage.delivered, delivered_on=day)
    if name == "review_requested":
        return replace(s, stage=Stage.review_requested, review_requested_on=day)
    if name == "review_decided":
        return replace(s, stage=Stage.reviewed, responsibilities=_after_review(s, d))
    return replace(s, stage=Stage.closed, ground=ClosingGround(d["ground"]))


def _after_review(s: ProcedureState, d: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    if d["outcome"] == "revoked":
        return ()
    if d["outcome"] == "varied":
        return tuple(d["varied_responsibilities"])
    return s.responsibilities
