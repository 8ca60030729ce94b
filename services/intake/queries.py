"""The staff read side: the cases a caller may see, and one case with its history.

    list_cases(conn, directory, person, ...)  -> CasePage    cases.index.visible_page
    case_detail(repo, conn, directory, person, case_id) -> CaseDetail   from the stream
    summary(state, directory)                 -> CaseSummary the answer to every command

The list carries no personal data. In the detail, an inquirer's personal data is shown to
staff of the case's units, people named on it and the supervisor; others who read every
case for oversight (centre_admin, the centre's leadership) see it masked.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import psycopg
from pydantic import BaseModel

from events.case_matter import MatterSuggestion
from events.personal import mask_event_data
from services.cases import access
from services.cases import index as case_index
from services.cases.access import load_visible
from services.cases.repository import CaseRepository
from services.common.pii import open_events
from services.directory.index import DirectoryIndex, Person
from services.domain.case import CaseState, Status
from services.intake.matter import suggestions


class CaseSummary(BaseModel):
    case_id: str
    receipt_number: str | None
    unit_id: str | None
    status: Status
    channel: str | None
    handler_id: str | None
    handler_name: str | None
    responsible_id: str | None
    awaiting_handoff_to: str | None
    section_id: str | None
    matter_type_code: str | None
    due_date: date | None
    transfer_pending: bool
    extension_pending: bool
    version: int


class CaseListItem(CaseSummary):
    opened_at: datetime
    updated_at: datetime


class CasePage(BaseModel):
    items: list[CaseListItem]
    total: int
    limit: int
    offset: int


class EventView(BaseModel):
    sequence: int | None
    id: UUID
    type: str
    actor: str
    time: datetime
    data: dict[str, Any]


class CaseDetail(CaseSummary):
    first_responder_id: str | None
    escalated_to: list[str]
    units: list[str]
    participants: list[str]
    notice_materials: list[str]
    matter_history: list[str]  # every matter code in force, oldest first (the last is now's)
    referred_to_body: str | None
    rated: bool
    complaints: int
    personal_data_masked: bool
    events: list[EventView]
    # routing's best guesses when it could not decide the matter alone, best first
    matter_suggestions: list[MatterSuggestion] = []


def _name(directory: DirectoryIndex, staff_id: str | None) -> str | None:
    person = directory.person(staff_id) if staff_id else None
    return person.staff.name if person else None


def summary(state: CaseState, directory: DirectoryIndex) -> CaseSummary:
    return CaseSummary(**_summary_fields(state, directory))


def _summary_fields(s: CaseState, directory: DirectoryIndex) -> dict[str, Any]:
    return {
        "case_id": s.case_id, "receipt_number": s.receipt_number, "unit_id": s.unit_id,
        "status": s.status, "channel": s.channel, "handler_id": s.handler_id,
        "handler_name": _name(directory, s.handler_id), "responsible_id": s.responsible_id,
        "awaiting_handoff_to": s.awaiting_handoff_to, "section_id": s.section_id,
        "matter_type_code": s.matter_type_code, "due_date": s.due_date,
        "transfer_pending": s.transfer_pending, "extension_pending": s.extension_pending,
        "version": s.version,
    }


def case_detail(repo: CaseRepository, conn: psycopg.Connection, directory: DirectoryIndex,
                person: Person, case_id: str) -> CaseDetail:
    loaded = load_visible(repo, conn, directory, person, case_id)
    s = loaded.state
    clear = access.sees_personal_data(person, s)
    opened = open_events(list(loaded.events), conn)  # masked below if not clear
    events = [
        EventView(sequence=e.sequence, id=e.id, type=e.type, actor=e.actor, time=e.time,
                  data=e.data if clear else mask_event_data(e.type, e.data))
        for e in opened
    ]
    return CaseDetail(
        **_summary_fields(s, directory), first_responder_id=s.first_responder_id,
        escalated_to=list(s.escalated_to), units=list(s.units),
        participants=list(s.participants), notice_materials=sorted(s.notice_materials),
        matter_history=list(s.matter_history),
        referred_to_body=s.referred_to_body, rated=s.rated, complaints=s.complaints,
        personal_data_masked=not clear, events=events,
        matter_suggestions=[MatterSuggestion.model_validate(s) for s in suggestions(loaded)])


def list_cases(conn: psycopg.Connection, directory: DirectoryIndex, person: Person, *,
               status: Status | None = None, mine: bool = False, limit: int = 50,
               offset: int = 0) -> CasePage:
    """Newest first. ``mine``: the caller handles it, is responsible, or it awaits them."""
    total, rows = case_index.visible_page(
        conn, directory, person, status=status.value if status is not None else None,
        mine=mine, limit=limit, offset=offset)
    items = [CaseListItem(**r, handler_name=_name(directory, r["handler_id"])) for r in rows]
    return CasePage(items=items, total=total, limit=limit, offset=offset)
