"""Registering an inquiry: the received event, the case index row, the receipt.

The first responder is whoever registered it (a staff member, by any channel); their name,
duty and contact go on the receipt, because the inquirer must be told them (告知).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import uuid6

from events import CloudEvent, new_event, new_id
from events.case import CaseReceived, ProblemLocation
from events.fields import Channel
from services.cases.repository import CaseRepository, new_access_code
from services.directory.index import Person


@dataclass(frozen=True)
class Receipt:
    case_id: str
    receipt_number: str
    access_code: str
    first_responder_name: str
    first_responder_duty: str
    first_responder_contact: str
    unit_name: str


@dataclass(frozen=True)
class Inquiry:
    channel: Channel
    matter: str
    inquirer_name: str
    inquirer_phone: str | None = None
    inquirer_address: str | None = None
    inquirer_work_unit: str | None = None
    inquirer_id_number: str | None = None
    inquirer_email: str | None = None
    inquirer_language: str | None = None
    received_at: datetime | None = None  # a letter's / forwarded item's, checked by the caller
    forwarded_from: str | None = None
    problem_location: dict[str, Any] | None = None  # Open311: address, lat, long (public)


def register_inquiry(
    repo: CaseRepository,
    conn: psycopg.Connection,
    first_responder: Person,
    inquiry: Inquiry,
    *,
    actor: str | None = None,
    source: str = "urn:shouwen:intake",
    receipt_number: str | None = None,
) -> Receipt:
    """Open a case inside the caller's transaction; ``actor`` defaults to the first
    responder (an online submission names the inquirer instead: it takes the receipt
    number first, ``repo.next_receipt_number(conn)``, to write ``inquirer:<receipt>``)."""
    receipt_number = receipt_number or repo.next_receipt_number(conn)
    event, receipt = received_event(first_responder, inquiry, receipt_number, actor, source)
    repo.open_case(event, receipt.access_code, conn)
    return receipt


async def register_inquiry_async(
    repo: CaseRepository,
    conn: psycopg.AsyncConnection[Any],
    first_responder: Person,
    inquiry: Inquiry,
    *,
    source: str = "urn:shouwen:intake",
) -> Receipt:
    """``register_inquiry`` on an async connection; on an autocommit one the case is
    committed when this returns (one statement)."""
    receipt_number = await repo.next_receipt_number_async(conn)
    event, receipt = received_event(first_responder, inquiry, receipt_number, None, source)
    await repo.open_case_async(event, receipt.access_code, conn)
    return receipt


def received_event(first_responder: Person, inquiry: Inquiry, receipt_number: str,
                   actor: str | None, source: str) -> tuple[CloudEvent, Receipt]:
    """The case's received event and the receipt to give the inquirer."""
    case_id = f"C-{uuid6.uuid7().hex}"
    staff = first_responder.staff
    payload = CaseReceived(
        channel=inquiry.channel,
        receipt_number=receipt_number,
        unit_id=first_responder.unit.id,
        matter=inquiry.matter,
        inquirer_name=inquiry.inquirer_name,
        inquirer_phone=inquiry.inquirer_phone,
        inquirer_address=inquiry.inquirer_address,
        inquirer_work_unit=inquiry.inquirer_work_unit,
        inquirer_id_number=inquiry.inquirer_id_number,
        inquirer_email=inquiry.inquirer_email,
        inquirer_language=inquiry.inquirer_language,
        first_responder_id=staff.id,
        first_responder_name=staff.name,
        first_responder_duty=staff.duty,
        first_responder_contact=staff.contact,
        received_at=inquiry.received_at,
        received_at_entered_by=staff.id if inquiry.received_at else None,
        forwarded_from=inquiry.forwarded_from,
        problem_location=(ProblemLocation.model_validate(inquiry.problem_location)
                          if inquiry.problem_location else None),
    )
    event_id = new_id()
    at = inquiry.received_at.astimezone(UTC) if inquiry.received_at else None
    event = new_event(payload, subject=case_id, actor=actor or f"staff:{staff.id}",
                      source=source, id=event_id, correlationid=event_id, time=at)
    return event, Receipt(case_id, receipt_number, new_access_code(), staff.name, staff.duty,
                          staff.contact, first_responder.unit.name)
