"""One accountability procedure: its stages, which step each allows, its due dates.

    opened ─verify─▶ verified ─proposal─▶ proposed ─investigate─▶ investigating
       │                │ (proceed=false)                          │ ─extend (once, +15 wd)
       │                ▼                                          ▼
       │            dismissed ─close─▶ closed          decided ◀─decide
       │                                                 │ deliver (within 10 working days)
       │                                                 ▼
       │           closed ◀─close (review window over)─ delivered
       │                                                 │ review_request (within 15 days,
       │                                                 ▼  by a sanctioned person)
       │           closed ◀─close─ reviewed ◀─review_decide (30 days)─ review_requested
       └─ close (withdrawn): any stage before the decision

Due dates: the investigation its limit (+ extension) in working days from its start, delivery
10 working days after the decision, the review request 15 days after delivery, the review
decision 30 days after the request — the presets; the values and the working days are the
unit's (``rules``: services/calendar/limits.py, the same policy and calendar deadline-watch
counts by). ``folding`` builds the state from events. Pure: no I/O; ``today`` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from events.accountability import ClosingGround
from services.calendar.limits import UnitRules, national

PREFIX = "shouwen.case."
STEP_EVENTS = ("accountability_opened", "preliminary_verified", "proposal_written",
               "investigation_started", "investigation_extended", "accountability_decided",
               "decision_delivered", "review_requested", "review_decided",
               "accountability_closed")


class Stage(StrEnum):
    opened = "opened"
    verified = "verified"
    dismissed = "dismissed"  # verification found nothing to pursue
    proposed = "proposed"
    investigating = "investigating"
    decided = "decided"
    delivered = "delivered"
    review_requested = "review_requested"
    reviewed = "reviewed"
    closed = "closed"


BEFORE_DECISION = frozenset({Stage.opened, Stage.verified, Stage.proposed, Stage.investigating})
ALLOWED: dict[str, frozenset[Stage]] = {
    "verify": frozenset({Stage.opened}),
    "proposal": frozenset({Stage.verified}),
    "investigate": frozenset({Stage.proposed}),
    "extend": frozenset({Stage.investigating}),
    "decide": frozenset({Stage.investigating}),
    "deliver": frozenset({Stage.decided}),
    "review_request": frozenset({Stage.delivered}),
    "review_decide": frozenset({Stage.review_requested}),
    "close": BEFORE_DECISION | {Stage.dismissed, Stage.delivered, Stage.reviewed},
}


class StepNotAllowed(Exception):
    """The step is not allowed in the procedure's current stage (HTTP 409)."""

    def __init__(self, step: str, state: ProcedureState, reason: str | None = None) -> None:
        self.step, self.state = step, state
        super().__init__(f"{step}: {reason or f'not allowed while the procedure is {state.stage}'}")


@dataclass(frozen=True)
class Step:
    name: str
    time: datetime
    actor: str
    data: dict[str, Any]


@dataclass(frozen=True)
class ProcedureState:
    procedure_id: str
    case_id: str
    stage: Stage = Stage.opened
    opened_at: datetime | None = None
    against_staff_ids: tuple[str, ...] = ()
    against_unit_id: str | None = None
    complaint_event_id: str | None = None
    investigation_started: date | None = None
    limit_working_days: int = 0
    extra_working_days: int = 0
    extended: bool = False
    decided_on: date | None = None
    delivered_on: date | None = None
    review_requested_on: date | None = None
    upheld: bool | None = None
    responsibilities: tuple[dict[str, Any], ...] = ()
    ground: ClosingGround | None = None
    steps: tuple[Step, ...] = ()
    rules: UnitRules = field(default_factory=national, compare=False)  # the unit's limits

    @property
    def sanctioned_ids(self) -> frozenset[str]:
        return frozenset(r["staff_id"] for r in self.responsibilities if r["sanction"] != "none")

    @property
    def investigation_due(self) -> date | None:
        if self.investigation_started is None:
            return None
        return self.rules.working_days_after(self.investigation_started,
                                             self.limit_working_days + self.extra_working_days)

    @property
    def delivery_due(self) -> date | None:
        days = self.rules.policy.decision_delivery_working_days
        return self.rules.working_days_after(self.decided_on, days) if self.decided_on else None

    @property
    def review_request_until(self) -> date | None:
        days = self.rules.policy.review_request_calendar_days
        return (self.rules.calendar_days_after(self.delivered_on, days)
                if self.delivered_on else None)

    @property
    def review_decision_due(self) -> date | None:
        days = self.rules.policy.review_decision_calendar_days
        return (self.rules.calendar_days_after(self.review_requested_on, days)
                if self.review_requested_on else None)

    @property
    def due(self) -> date | None:
        """The due date of what is awaited now, if anything is."""
        return {Stage.investigating: self.investigation_due, Stage.decided: self.delivery_due,
                Stage.delivered: self.review_request_until,
                Stage.review_requested: self.review_decision_due}.get(self.stage)

    def require(self, step: str, today: date) -> None:
        if self.stage not in ALLOWED[step]:
            raise StepNotAllowed(step, self)
        if step == "extend" and self.extended:
            raise StepNotAllowed(step, self, "the investigation was already extended once")
        window = self.review_request_until
        if step == "review_request" and window and today > window:
            raise StepNotAllowed(step, self, f"the review window closed on {window}")
        if step == "review_request" and not self.sanctioned_ids:
            raise StepNotAllowed(step, self, "the decision sanctioned no one")

    def closing_ground(self, withdraw: bool, today: date) -> ClosingGround:
        """Why ``close`` would close it now; StepNotAllowed if it may not be closed."""
        self.require("close", today)
        if self.stage in BEFORE_DECISION:
            if withdraw:
                return ClosingGround.withdrawn
            raise StepNotAllowed("close", self, "only a withdrawal closes it before the "
                                 "decision (withdraw: true)")
        if withdraw:
            raise StepNotAllowed("close", self, "a decided procedure cannot be withdrawn")
        if self.stage is Stage.dismissed:
            return ClosingGround.not_substantiated
        if self.stage is Stage.reviewed:
            return ClosingGround.reviewed
        window = self.review_request_until
        if window and today <= window and self.sanctioned_ids:
            raise StepNotAllowed("close", self, f"the review window is open until {window}")
        return ClosingGround.decided

    def allowed_steps(self, today: date) -> list[str]:
        out = []
        for step in ALLOWED:
            try:
                if step == "close":
                    self.closing_ground(self.stage in BEFORE_DECISION, today)
                else:
                    self.require(step, today)
            except StepNotAllowed:
                continue
            out.append(step)
        return out
