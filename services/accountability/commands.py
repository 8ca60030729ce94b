"""The procedure's commands: one call -> exactly one event on the case's stream.

    open_procedure(..., case_id, body)          -> accountability_opened
    act(..., procedure_id, step, body)          -> the step's event (see payloads.BUILD)

Inside the caller's transaction:

    supervisor, not complained about? (review_request: a person the decision sanctioned)
                                                                     no: NotPermitted (403)
      ─▶ load the case stream, fold the procedure       unknown/not theirs: ProcedureNotFound
      ─▶ expected_version still the case's?             no: WrongExpectedVersion (409)
      ─▶ step allowed in the procedure's stage?         no: StepNotAllowed (409)
      ─▶ build the payload (directory checks)           bad: CommandRefused (422)
      ─▶ append ONE event, actor staff:<id>, correlation = the case's received event;
         the procedure index and the findings in the same transaction
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

import psycopg
from pydantic import BaseModel, ValidationError

from events import CloudEvent, EventPayload, new_event
from events.accountability import AccountabilityOpened
from events.case import CaseReceived
from services.accountability import payloads, store
from services.accountability import procedure as proc
from services.accountability.folding import fold as fold_procedure
from services.accountability.models import Action, Open
from services.calendar.builtin import today as civil_today
from services.calendar.limits import UnitRules, unit_rules
from services.cases.repository import CaseRepository
from services.common.eventstore import WrongExpectedVersion
from services.directory.index import DirectoryIndex, Person
from services.directory.model import Role
from services.domain.case import CaseState, fold
from services.domain.errors import CommandRefused, NotPermitted

SOURCE = "urn:shouwen:accountability"
SUPERVISOR_STEPS = ("verify", "proposal", "investigate", "extend", "decide", "deliver",
                    "review_decide", "close")

ASSESSORS = (Role.supervisor, Role.admin)


class ProcedureNotFound(LookupError):
    pass


class OpenRefused(Exception):
    """The case offers nothing to open a procedure for (HTTP 409)."""


@dataclass(frozen=True)
class Loaded:
    case: CaseState
    events: list[CloudEvent]
    procedure: proc.ProcedureState


def require_supervisor(actor: Person, what: str, against: tuple[str, ...] = ()) -> None:
    if not actor.has(Role.supervisor):
        raise NotPermitted(f"{what}: only supervisors (纪检监察) run accountability procedures;"
                           f" {actor.staff.id} is not one")
    if actor.staff.id in against:
        raise NotPermitted(f"{what}: {actor.staff.id} is complained about in this procedure "
                           "and must stand aside (回避)")


def may_evaluate(person: Person, kind: str, subject_id: str, assess: bool) -> bool:
    """The assessment group (supervisor, admin) scores and reads; the centre's office
    (centre_admin) and the person themselves read."""
    if person.has(*ASSESSORS):
        return True
    if assess:
        return False
    return person.has(Role.centre_admin) or (kind == "staff" and subject_id == person.staff.id)


def _case(repo: CaseRepository, conn: psycopg.Connection, case_id: str
          ) -> tuple[CaseState, list[CloudEvent]]:
    events = [r.event for r in repo.store.read_stream(case_id, conn=conn)]
    if not events or events[0].type != CaseReceived.event_type:
        raise ProcedureNotFound(case_id)
    return fold(case_id, events), events


def _rules(conn: psycopg.Connection, events: list[CloudEvent]) -> UnitRules:
    """The time limits of the unit that received the case (deadline-watch counts by the same
    unit's policy and calendar)."""
    return unit_rules(conn, str(events[0].data["unit_id"]))


def load(repo: CaseRepository, conn: psycopg.Connection, actor: Person,
         procedure_id: str) -> Loaded:
    """The procedure, for a supervisor or a person its decision names; else not found."""
    case_id = store.case_of(conn, procedure_id)
    if case_id is None:
        raise ProcedureNotFound(procedure_id)
    case, events = _case(repo, conn, case_id)
    state = fold_procedure(case_id, procedure_id, events, _rules(conn, events))
    if state is None:
        raise ProcedureNotFound(procedure_id)
    named = {r["staff_id"] for r in state.responsibilities}
    if not actor.has(Role.supervisor) and actor.staff.id not in named:
        raise ProcedureNotFound(procedure_id)
    return Loaded(case, events, state)


def _append(repo: CaseRepository, conn: psycopg.Connection, actor: Person, case: CaseState,
            events: list[CloudEvent], body: Action, payload: EventPayload
            ) -> proc.ProcedureState:
    first = events[0]
    event = new_event(payload, subject=case.case_id, actor=f"staff:{actor.staff.id}",
                      source=SOURCE, correlationid=first.correlationid or first.id)
    repo.append(case, [event], conn)
    pid = payload.procedure_id  # type: ignore[attr-defined]
    state = fold_procedure(case.case_id, pid, [*events, event], _rules(conn, events))
    assert state is not None
    store.save_procedure(conn, state)
    if event.type.split(".")[2] in ("accountability_decided", "review_decided"):
        store.sync_findings(conn, state)
    return state


def open_procedure(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
                   actor: Person, case_id: str, body: Open) -> proc.ProcedureState:
    require_supervisor(actor, "open")
    case, events = _case(repo, conn, case_id)
    _check_version(case, body)
    complaints = [e for e in events if e.type.split(".")[2] == "complaint_filed"]
    if body.complaint_event_id is not None:
        complaint = next((e for e in complaints if str(e.id) == body.complaint_event_id), None)
        if complaint is None:
            raise CommandRefused("complaint_event_id: no such complaint on this case",
                                 field="complaint_event_id")
    else:
        pending = [e for e in complaints if store.opened_for(conn, str(e.id)) is None]
        if not complaints:
            raise OpenRefused("open: the case has no complaint to open a procedure for")
        complaint = pending[-1] if pending else complaints[-1]
    already = store.opened_for(conn, str(complaint.id))
    if already is not None:
        raise OpenRefused(f"open: procedure {already} is already open for this complaint")
    against = body.against_staff_ids or [complaint.data.get("against_staff_id")
                                         or case.first_responder_id or ""]
    require_supervisor(actor, "open", tuple(against))
    for i, staff_id in enumerate(against):
        if directory.person(staff_id) is None:
            raise CommandRefused(f"against_staff_ids.{i}: no staff member {staff_id!r} in the "
                                 "directory in force", field="against_staff_ids")
    payload = _valid(lambda: AccountabilityOpened(
        procedure_id=f"AP-{uuid.uuid4().hex}", complaint_event_id=str(complaint.id),
        against_staff_ids=against, summary=body.summary,
        against_unit_id=complaint.data.get("against_unit_id") or case.unit_id))
    return _append(repo, conn, actor, case, events, body, payload)


def act(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
        actor: Person, procedure_id: str, step: str, body: BaseModel,
        today: date | None = None) -> proc.ProcedureState:
    assert isinstance(body, Action)
    if step in SUPERVISOR_STEPS:
        require_supervisor(actor, step)
    loaded = load(repo, conn, actor, procedure_id)
    state, day = loaded.procedure, today or civil_today()
    if step in SUPERVISOR_STEPS:
        require_supervisor(actor, step, state.against_staff_ids)
    if step == "review_request" and actor.staff.id not in state.sanctioned_ids:
        raise NotPermitted("review_request: only a person the decision sanctioned may ask "
                           "for a review of it, themselves")
    _check_version(loaded.case, body)
    state.require(step, day)
    ctx = payloads.Context(conn, directory, actor, state, day)
    payload = _valid(lambda: payloads.BUILD[step](ctx, body))
    return _append(repo, conn, actor, loaded.case, loaded.events, body, payload)


def _check_version(case: CaseState, body: Action) -> None:
    if body.expected_version is not None and body.expected_version != case.version:
        raise WrongExpectedVersion(case.case_id, body.expected_version, case.version)


def _valid(build: payloads.Builder0) -> EventPayload:
    try:
        return build()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CommandRefused(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
