"""Migrating checked ledger rows into the store: ONE transaction, deterministic ids.

    plan_case(row, directory, calendar, source) -> (case id, [events])
        received   actor staff:<first responder>, time = received_at (time limits count
                   from it), imported_from names the file, its digest and the row
        accepted   when a handler is named: by them at accepted_at, the catalogue's
                   matter and limit (or the ledger's due date), section of the handler
        replied    when answered: by the handler (else the first responder) at replied_at
        completed, closed   when closed: at closed_at
    import_rows(url, rows, ...) -> Imported   every new case in one transaction, or none

Every event's id is a uuid5 of the case id and its step, and the case id a uuid5 of the
receipt number: running the same file again finds its cases and writes nothing. Events carry
``source = urn:shouwen:import``, so the notification service tells no one about them;
deadline-watch plans the open ones from their original times (an old one is overdue at once).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from psycopg_pool import ConnectionPool

from events import CloudEvent, new_event
from events.case import CaseAccepted, CaseReceived, TimeLimit
from events.case_outcome import CaseClosed, CaseCompleted, CaseReplied, ClosingReason, Outcome
from events.fields import StaffMember
from events.registry import EventPayload
from services.calendar import WorkingCalendar
from services.calendar.store import load_book
from services.cases import index as case_index
from services.cases.repository import CaseRepository, new_access_code
from services.directory.index import DirectoryIndex
from services.importer.ledger_file import LedgerRow
from services.notification.rules import IMPORT_SOURCE

NAMESPACE = uuid.UUID("8f1d6a52-3c1e-5b7a-9a0e-6c1d2b3e4f50")
DEFAULT_LIMIT = 15  # working days, when neither the catalogue nor the ledger says


def case_id_of(receipt_number: str) -> str:
    return f"C-{uuid.uuid5(NAMESPACE, 'import:' + receipt_number).hex}"


def _staff(d: DirectoryIndex, staff_id: str) -> StaffMember:
    p = d.person(staff_id)
    assert p is not None, "parse() checked every staff id"
    return StaffMember(id=p.staff.id, name=p.staff.name, duty=p.staff.duty,
                       contact=p.staff.contact)


def plan_case(row: LedgerRow, d: DirectoryIndex, calendar: WorkingCalendar,
              origin: str) -> tuple[str, list[CloudEvent]]:
    case_id = case_id_of(row.receipt_number)
    first = d.person(row.first_responder_id)
    assert first is not None
    steps: list[tuple[EventPayload, str, datetime]] = [(CaseReceived(
        channel=row.channel, receipt_number=row.receipt_number, unit_id=first.unit.id,
        matter=row.matter, inquirer_name=row.inquirer_name, inquirer_phone=row.inquirer_phone,
        inquirer_address=row.inquirer_address, inquirer_work_unit=row.inquirer_work_unit,
        first_responder_id=first.staff.id, first_responder_name=first.staff.name,
        first_responder_duty=first.staff.duty, first_responder_contact=first.staff.contact,
        received_at=row.received_at, imported_from=f"{origin} row {row.row}"[:200],
    ), first.staff.id, row.received_at)]
    if row.handler_id:
        steps.append((_accepted(row, d, calendar), row.handler_id,
                      row.accepted_at or row.received_at))
    answerer = row.handler_id or row.first_responder_id
    if row.answer and row.replied_at:
        steps.append((CaseReplied(answer=row.answer, channel=row.channel), answerer,
                      row.replied_at))
    if row.closed_at:
        steps.append((CaseCompleted(outcome=row.outcome or Outcome.resolved,
                                    summary=row.answer or "原台账记录已办结"),
                      answerer, row.closed_at))
        steps.append((CaseClosed(reason=ClosingReason.completed, note="迁移自原台账"),
                      answerer, row.closed_at))
    correlation = uuid.uuid5(NAMESPACE, f"{case_id}/0")
    events = [
        new_event(payload, subject=case_id, actor=f"staff:{who}", source=IMPORT_SOURCE,
                  time=at, id=uuid.uuid5(NAMESPACE, f"{case_id}/{i}"), correlationid=correlation)
        for i, (payload, who, at) in enumerate(steps)
    ]
    return case_id, events


def _accepted(row: LedgerRow, d: DirectoryIndex, calendar: WorkingCalendar) -> CaseAccepted:
    assert row.handler_id is not None
    at = row.accepted_at or row.received_at
    matter = d.matters.get(row.matter_type_code) if row.matter_type_code else None
    limit = matter.time_limit_working_days if matter else None
    if row.due_date is not None:
        due_day, provisional = row.due_date, not calendar.covers(row.due_date.year)
        end = datetime.combine(row.due_date, datetime.min.time(), UTC)
        days = max(0, calendar.working_days_between(at, end)) if end > at else 0
        basis = "legacy ledger due date"
    else:
        days = limit if limit is not None else DEFAULT_LIMIT
        due = calendar.add_working_days(at, days)
        due_day, provisional = due.day, due.provisional
        basis = (f"matter catalogue {row.matter_type_code} ({limit} working days)"
                 if limit is not None else f"legacy ledger ({DEFAULT_LIMIT} working days)")
    handler = d.person(row.handler_id)
    assert handler is not None
    return CaseAccepted(
        handler=_staff(d, row.handler_id), section_id=handler.staff.section,
        time_limit=TimeLimit(working_days=min(days, 366), due_date=due_day, basis=basis,
                             provisional=provisional),
        handling_plan="按原台账记录办理（迁移）",
        matter_type_code=row.matter_type_code if matter else None,
        matter_type_name=matter.name if matter else None)


@dataclass
class Imported:
    new: list[str] = field(default_factory=list)  # case ids written
    already: list[str] = field(default_factory=list)  # found from an earlier run
    open: int = 0
    closed: int = 0
    events: int = 0


class ReceiptTaken(ValueError):
    """A receipt number of the file belongs to a case that was not imported from it."""


def import_rows(url: str, rows: list[LedgerRow], directory: DirectoryIndex, origin: str,
                *, dry_run: bool = False) -> Imported:
    """Write every row's case not yet in the store, all in one transaction (or none)."""
    result = Imported()
    with ConnectionPool(url, min_size=1, max_size=1, open=True) as pool, \
            pool.connection() as conn, conn.transaction():
        repo = CaseRepository(pool)
        book = load_book(conn)
        ids = {r.receipt_number: case_id_of(r.receipt_number) for r in rows}
        found = case_index.cases_of_receipts(conn, ids)
        taken = [(r.row, r.receipt_number) for r in rows
                 if r.receipt_number in found and found[r.receipt_number] != ids[r.receipt_number]]
        if taken:
            raise ReceiptTaken("; ".join(f"row {n}: receipt_number {k!r} is already a case's "
                                         "that was not imported" for n, k in taken))
        for row in rows:
            if row.receipt_number in found:
                result.already.append(ids[row.receipt_number])
                continue
            first = directory.person(row.first_responder_id)
            assert first is not None
            case_id, events = plan_case(row, directory, book.for_unit(first.unit.id), origin)
            state = repo.open_case(events[0], new_access_code(), conn)
            if len(events) > 1:
                repo.append(state, events[1:], conn)
            result.new.append(case_id)
            result.events += len(events)
            if row.closed_at:
                result.closed += 1
            else:
                result.open += 1
        if dry_run:
            raise psycopg.Rollback()  # leaves the transaction block, nothing written
    return result
