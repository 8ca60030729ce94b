"""What the API and the console show: a procedure, the list, an evaluation.

    view_of(conn, directory, person, state, today)   -> ProcedureView  (next steps for this
                                                        caller; the proposed chain and
                                                        sanctions while investigating)
    evaluation_of(conn, kind, subject_id, year)      -> EvaluationView
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any

import psycopg
from pydantic import BaseModel

from services.accountability import evaluation, facts, payloads, store
from services.accountability.commands import SUPERVISOR_STEPS
from services.accountability.procedure import ProcedureState, Stage
from services.cases.index import receipt_and_version
from services.directory.index import DirectoryIndex, Person
from services.directory.model import Role


class StepView(BaseModel):
    step: str
    time: datetime
    actor: str
    data: dict[str, Any]


class ProcedureView(BaseModel):
    procedure_id: str
    case_id: str
    receipt_number: str | None
    case_version: int
    stage: Stage
    against_staff_ids: list[str]
    against_unit_id: str | None
    complaint_event_id: str | None
    upheld: bool | None
    responsibilities: list[dict[str, Any]]
    extended: bool
    ground: str | None
    due: date | None
    investigation_due: date | None
    delivery_due: date | None
    review_request_until: date | None
    review_decision_due: date | None
    next_steps: list[str]
    proposed_responsibilities: list[dict[str, Any]] | None
    steps: list[StepView]


class ProcedureItem(BaseModel):
    procedure_id: str
    case_id: str
    receipt_number: str | None
    stage: Stage
    against_staff_ids: list[str]
    against_unit_id: str | None
    due_date: date | None
    opened_at: datetime
    updated_at: datetime


class ProcedureList(BaseModel):
    items: list[ProcedureItem]


class RatesView(BaseModel):
    received: int
    replied: int
    response_rate: float | None
    completed: int
    resolved: int
    resolution_rate: float | None
    rated: int
    satisfied: int
    satisfaction_rate: float | None
    deadlines_due: int
    deadlines_on_time: int
    on_time_rate: float | None


class EvaluationView(BaseModel):
    kind: str
    subject_id: str
    year: int
    assessment: float | None
    assessed_by: str | None
    ratings: int
    min_ratings: int
    rating_score: float | None
    score: float | None
    grade: evaluation.Grade | None
    incomplete: list[str]
    rates: RatesView


class AssessmentOut(BaseModel):
    subject_kind: str
    subject_id: str
    year: int
    score: float
    note: str | None
    assessed_by: str
    recorded_at: datetime


def next_steps(person: Person, state: ProcedureState, today: date) -> list[str]:
    allowed = state.allowed_steps(today)
    if person.has(Role.supervisor) and person.staff.id not in state.against_staff_ids:
        return [s for s in allowed if s in SUPERVISOR_STEPS]
    if "review_request" in allowed and person.staff.id in state.sanctioned_ids:
        return ["review_request"]
    return []


def view_of(conn: psycopg.Connection, directory: DirectoryIndex, person: Person,
            state: ProcedureState, today: date, case_version: int | None = None
            ) -> ProcedureView:
    row = receipt_and_version(conn, state.case_id)
    proposal = None
    if state.stage is Stage.investigating and person.has(Role.supervisor):
        ctx = payloads.Context(conn, directory, person, state, today)
        proposal = [r.model_dump(mode="json") for r in payloads.proposed(ctx, lock=False)]
    return ProcedureView(
        procedure_id=state.procedure_id, case_id=state.case_id,
        receipt_number=row[0] if row else None,
        case_version=case_version or (int(row[1]) if row else 0), stage=state.stage,
        against_staff_ids=list(state.against_staff_ids), against_unit_id=state.against_unit_id,
        complaint_event_id=state.complaint_event_id, upheld=state.upheld,
        responsibilities=list(state.responsibilities), extended=state.extended,
        ground=state.ground.value if state.ground else None, due=state.due,
        investigation_due=state.investigation_due, delivery_due=state.delivery_due,
        review_request_until=state.review_request_until,
        review_decision_due=state.review_decision_due,
        next_steps=next_steps(person, state, today), proposed_responsibilities=proposal,
        steps=[StepView(step=s.name, time=s.time, actor=s.actor, data=s.data)
               for s in state.steps])


def evaluation_of(conn: psycopg.Connection, kind: str, subject_id: str,
                  year: int) -> EvaluationView:
    cases, deadlines = facts.year_facts(conn, kind, subject_id, year)
    assessed = store.latest_assessment(conn, kind, subject_id, year)
    e = evaluation.evaluate(year, assessed["score"] if assessed else None, cases, deadlines)
    return EvaluationView(
        kind=kind, subject_id=subject_id, year=year, assessment=e.assessment,
        assessed_by=assessed["assessed_by"] if assessed else None, ratings=e.ratings,
        min_ratings=evaluation.MIN_RATINGS, rating_score=e.rating_score, score=e.score,
        grade=e.grade, incomplete=e.incomplete, rates=RatesView(**asdict(e.rates)))
