"""Build each command's event payload from the request, the case and the directory.

The server fills in what the caller may not choose: who the handler or leader is (name,
duty, contact from the directory), the due date (catalogue time limit, working days), the
pick-up record number. A reference the directory does not hold, or a handler who is off
duty or in another section, is refused with CommandRefused naming the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from events.case import (
    CaseAccepted,
    ExtensionGranted,
    ExtensionRefused,
    ExtensionRequested,
    MaterialsSupplied,
    OneTimeNoticeGiven,
    TimeLimit,
)
from events.case_outcome import (
    CaseClosed,
    CaseCompleted,
    CaseReplied,
    PickupRecord,
    ResultDelivered,
)
from events.case_referral import (
    CaseEscalated,
    CaseReferred,
    ExternalReferral,
    HandoffAccepted,
    InternalReferral,
    TransferApproved,
    TransferRejected,
    TransferRequested,
)
from events.fields import Channel, LeaderRef, LeaderRole, StaffMember
from events.registry import EventPayload
from services.calendar import WorkingCalendar
from services.calendar.rules import CIVIL_TIME
from services.directory.index import DirectoryIndex, Person
from services.directory.model import Role
from services.domain.case import CaseState, check_notice
from services.domain.errors import CommandRefused
from services.intake import models

_LEADER_ROLES = ((Role.principal_leader, LeaderRole.principal_leader),
                 (Role.supervising_leader, LeaderRole.supervising_leader),
                 (Role.section_chief, LeaderRole.section_head))
_LADDER = {"section_chief": 1, "supervising_leader": 2, "principal_leader": 3}

MAX_EXTENSION_DAYS = 366  # whatever the policy: a due date at most a year from today


def staff_member(person: Person) -> StaffMember:
    s = person.staff
    return StaffMember(id=s.id, name=s.name, duty=s.duty, contact=s.contact)


def leader_ref(person: Person) -> LeaderRef:
    role = next(r for held, r in _LEADER_ROLES if person.has(held))
    return LeaderRef(id=person.staff.id, role=role, name=person.staff.name)


def on_duty_person(directory: DirectoryIndex, staff_id: str, field: str) -> Person:
    person = directory.person(staff_id)
    if person is None:
        raise CommandRefused(f"{field}: no staff member {staff_id!r} in the directory")
    if not person.staff.on_duty:
        raise CommandRefused(f"{field}: {person.staff.name} ({staff_id}) is not on duty; "
                             "name a colleague who is")
    return person


def accepted(directory: DirectoryIndex, actor: Person, state: CaseState,
             body: models.Accept, calendar: WorkingCalendar) -> CaseAccepted:
    """The due date counts working days in the unit's calendar, from the day after today."""
    days, basis = _time_limit(directory, state, body)
    due = calendar.add_working_days(datetime.now(UTC), days)
    code = body.matter_type_code  # the handler's naming or correction of the matter
    matter = directory.matters.get(code) if code else None
    return CaseAccepted(
        handler=staff_member(actor), section_id=actor.staff.section or state.section_id,
        time_limit=TimeLimit(working_days=days, due_date=due.day, basis=basis,
                             provisional=due.provisional),
        on_the_spot=body.on_the_spot, handling_plan=body.handling_plan,
        matter_type_code=code, matter_type_name=matter.name if matter else None)


def _time_limit(directory: DirectoryIndex, state: CaseState,
                body: models.Accept) -> tuple[int, str]:
    """The catalogue's limit for the matter; a committed limit may be shorter, not longer."""
    code = body.matter_type_code or state.matter_type_code
    if code is None:
        if body.working_days is None:
            raise CommandRefused("working_days: give the committed time limit, or a "
                                 "matter_type_code whose limit the catalogue holds")
        return body.working_days, "committed by the handler"
    matter = directory.matters.get(code)
    if matter is None:
        raise CommandRefused(f"matter_type_code: {code!r} is not in the matter catalogue")
    limit = matter.time_limit_working_days
    if limit is None:
        raise CommandRefused(f"matter_type_code: {code} is handled by an external body "
                             f"({matter.external_body}); refer the inquirer there instead")
    if body.working_days is not None and body.working_days > limit:
        raise CommandRefused(f"working_days: the catalogue's limit for {code} is {limit} "
                             "working days; a committed limit may not exceed it")
    days = limit if body.working_days is None else body.working_days
    return days, f"matter catalogue {code} ({limit} working days)"


def notice(state: CaseState, body: models.OneTimeNotice) -> OneTimeNoticeGiven:
    check_notice(state, [m.name for m in body.missing_materials], body.request_changed)
    return OneTimeNoticeGiven(
        missing_materials=body.missing_materials, requirements=body.requirements,
        forms=body.forms, notified_via=body.notified_via or _channel(state),
        request_changed=body.request_changed)


def materials(body: models.MaterialsSupplied) -> MaterialsSupplied:
    return MaterialsSupplied(materials=body.materials, outstanding=body.outstanding,
                             complete=body.complete)


def referred_internal(directory: DirectoryIndex, actor: Person, state: CaseState,
                      body: models.ReferInternal) -> CaseReferred:
    found = directory.sections.get(body.section_id)
    if found is None:
        raise CommandRefused(f"section_id: no section {body.section_id!r} in the directory")
    section, unit = found
    handler = on_duty_person(directory, body.handler_id, "handler_id")
    if handler.staff.section != section.id:
        raise CommandRefused(f"handler_id: {handler.staff.name} ({handler.staff.id}) is not "
                             f"in section {section.name} ({section.id})")
    if handler.staff.id == actor.staff.id:
        raise CommandRefused("handler_id: a case cannot be referred to oneself")
    referral = InternalReferral(
        kind="internal", unit_id=unit.id if unit.id != state.unit_id else None,
        section_id=section.id, section_name=section.name, handler=staff_member(handler),
        handler_present=body.handler_present, unit_name=unit.name, address=unit.address,
        window=section.location, contact_phone=section.phone or unit.phone,
        contact_person=handler.staff.name)
    return CaseReferred(referral=referral, reason=body.reason)


def referred_external(directory: DirectoryIndex, body: models.ReferExternal) -> CaseReferred:
    if body.body_id is not None:
        known = directory.bodies.get(body.body_id)
        if known is None:
            raise CommandRefused(f"body_id: no external body {body.body_id!r} in the catalogue")
        where: dict[str, Any] = {"body_name": known.name, "address": known.address,
                                 "contact_phone": known.phone,
                                 "contact_person": known.contact_person, "body_id": known.id}
    else:
        where = {"body_name": body.body_name, "address": body.address,
                 "contact_phone": body.contact_phone, "contact_person": body.contact_person}
    referral = ExternalReferral(kind="external", case_forwarded=body.case_forwarded, **where)
    return CaseReferred(referral=referral, reason=body.reason)


def handoff_accepted(actor: Person, state: CaseState) -> HandoffAccepted:
    return HandoffAccepted(handler=staff_member(actor),
                           section_id=state.section_id or actor.staff.section)


def escalated(directory: DirectoryIndex, actor: Person, state: CaseState,
              body: models.Escalate) -> CaseEscalated:
    section_id = state.section_id or actor.staff.section
    found = directory.sections.get(section_id) if section_id else None
    unit_id = found[1].id if found else (state.unit_id or actor.unit.id)
    if body.to == "section_chief":
        leader = directory.section_chief(section_id) if section_id else None
    elif body.to == "supervising_leader":
        leader = directory.supervising_leader(unit_id, section_id)
    else:
        leader = directory.principal_leader(unit_id)
    if leader is None:
        raise CommandRefused(f"to: the directory names no {body.to} for "
                             f"{section_id or unit_id}")
    if leader.staff.id == actor.staff.id:
        raise CommandRefused(f"to: you are the {body.to} yourself; escalate higher")
    ref = LeaderRef(id=leader.staff.id, role=_role_of_level(body.to), name=leader.staff.name)
    return CaseEscalated(leader=ref, reason=body.reason, details=body.details,
                         ladder_step=_LADDER[body.to])


def _role_of_level(level: str) -> LeaderRole:
    return LeaderRole.section_head if level == "section_chief" else LeaderRole(level)


def transfer_requested(directory: DirectoryIndex,
                       body: models.TransferRequest) -> TransferRequested:
    proposed = (on_duty_person(directory, body.proposed_responsible_id,
                               "proposed_responsible_id")
                if body.proposed_responsible_id else None)
    return TransferRequested(reason=body.reason,
                             proposed_responsible=staff_member(proposed) if proposed else None)


def transfer_decided(directory: DirectoryIndex, actor: Person, state: CaseState,
                     body: models.TransferDecision) -> EventPayload:
    if body.decision == "reject":
        assert body.reason is not None  # the model requires it
        return TransferRejected(approver=leader_ref(actor), reason=body.reason)
    assert body.new_responsible_id is not None and state.responsible_id is not None
    new = on_duty_person(directory, body.new_responsible_id, "new_responsible_id")
    if new.staff.id == state.responsible_id:
        raise CommandRefused("new_responsible_id: that is already the responsible person")
    return TransferApproved(approver=leader_ref(actor),
                            previous_responsible_id=state.responsible_id,
                            new_responsible=staff_member(new))


def extension_requested(state: CaseState, body: models.ExtensionRequest,
                        bound: ExtensionBound) -> ExtensionRequested:
    if state.due_date is not None and body.proposed_due_date <= state.due_date:
        raise CommandRefused(f"proposed_due_date: must be after the current due date "
                             f"{state.due_date.isoformat()}")
    bound.check("proposed_due_date", body.proposed_due_date)
    return ExtensionRequested(reason=body.reason, proposed_due_date=body.proposed_due_date)


@dataclass(frozen=True)
class ExtensionBound:
    """How far an extension may move the due date: the original time limit (accepted
    date -> its due date, in calendar days) once more, times the unit's policy share
    (default 1: "20 + 10 days" in the spirit of the Administrative Licensing Law), and
    never more than a year from today."""

    latest: date

    @classmethod
    def of(cls, events: list[Any], share: float) -> ExtensionBound:
        cap = datetime.now(CIVIL_TIME).date() + timedelta(days=MAX_EXTENSION_DAYS)
        accepted = next((e for e in events if e.type.split(".")[2] == "accepted"), None)
        if accepted is None:
            return cls(cap)
        due = date.fromisoformat(accepted.data["time_limit"]["due_date"])
        span = max((due - accepted.time.astimezone(CIVIL_TIME).date()).days, 1)
        return cls(min(cap, due + timedelta(days=math.ceil(span * share))))

    def check(self, field: str, day: date) -> None:
        if day > self.latest:
            raise CommandRefused(f"{field}: at most {self.latest.isoformat()} (the original "
                                 f"time limit once more, by the unit's extension policy)",
                                 field=field)


def extension_decided(actor: Person, state: CaseState, body: models.ExtensionDecision,
                      asked: dict[str, Any], bound: ExtensionBound) -> EventPayload:
    if body.decision == "refuse":
        return ExtensionRefused(approver=leader_ref(actor), reason=body.reason)
    new_due = body.new_due_date or asked.get("proposed_due_date")
    if new_due is None:
        raise CommandRefused("new_due_date: give the new due date")
    granted = ExtensionGranted(approver=leader_ref(actor), new_due_date=new_due,
                               reason=body.reason)
    if state.due_date is not None and granted.new_due_date <= state.due_date:
        raise CommandRefused(f"new_due_date: must be after the current due date "
                             f"{state.due_date.isoformat()}")
    bound.check("new_due_date", granted.new_due_date)
    return granted


def replied(state: CaseState, body: models.Reply) -> CaseReplied:
    return CaseReplied(answer=body.answer, channel=body.channel or _channel(state),
                       basis=body.basis)


def completed(body: models.Complete) -> CaseCompleted:
    return CaseCompleted(outcome=body.outcome, summary=body.summary)


def delivered(state: CaseState, body: models.Deliver) -> ResultDelivered:
    record = None
    if body.pickup is not None:
        record = PickupRecord(
            record_number=f"PU-{state.receipt_number}-{state.version + 1}",
            collector_name=body.pickup.collector_name,
            collector_id_number=body.pickup.collector_id_number,
            by_proxy=body.pickup.by_proxy, picked_up_at=datetime.now(UTC))
    return ResultDelivered(method=body.method, recipient_name=body.recipient_name,
                           recipient_contact=body.recipient_contact, pickup_record=record)


def closed(body: models.Close) -> CaseClosed:
    return CaseClosed(reason=body.reason, note=body.note)


def _channel(state: CaseState) -> Channel:
    return Channel(state.channel or Channel.window)
