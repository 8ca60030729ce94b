"""Who handles the case: referral, handoff, escalation, transfer of the responsible person.

    referred            referral = InternalReferral  (kind "internal": a section and a
                                                     named handler, 落实经办人)
                                 | ExternalReferral  (kind "external": the body's name,
                                                     address, contact phone, contact person)
    handoff_accepted    the receiving handler took it
    escalated           to a leader (role, id), with the reason
    transfer_requested  the responsible person asks to hand the case over (行政服务中心 rule 5)
    transfer_approved   the leadership names the new responsible person (told to the inquirer)
    transfer_rejected   the leadership refuses; the responsible person keeps the case

One referral type with a discriminated union keeps "the case was referred" a single fact
for readers (the first responder tracks it either way); ``kind`` says which.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from events.fields import Contact, Id, LeaderRef, Name, ShortText, StaffMember, Text, Value
from events.registry import EventPayload, register


class InternalReferral(Value):
    """To a section inside the system (this unit, or another unit when ``unit_id`` is set:
    a cross-unit referral) and a named handler there, who must accept the handoff."""

    kind: Literal["internal"]
    unit_id: Id | None = None
    section_id: Id
    section_name: ShortText
    handler: StaffMember
    handler_present: bool = True  # absent: the inquirer got the handler's contact
    # where the inquirer goes (DOMAIN.md section 3: the destination's address, phone and
    # contact person, as for an external referral); absent in events before issue 14
    unit_name: ShortText | None = None
    address: ShortText | None = None  # the receiving unit's address
    window: ShortText | None = None  # the section's counter / room, if the directory has it
    contact_phone: Contact | None = None  # the section's phone, else the unit's
    contact_person: Name | None = None  # the named handler


class ExternalReferral(Value):
    """To another body: exactly where to go and whom to ask."""

    kind: Literal["external"]
    body_name: ShortText
    address: ShortText
    contact_phone: Contact
    contact_person: Name
    body_id: Id | None = None
    case_forwarded: bool = False  # the case file itself was forwarded, not only the inquirer


Referral = Annotated[InternalReferral | ExternalReferral, Field(discriminator="kind")]


@register
class CaseReferred(EventPayload):
    """The matter is not the first responder's; it was referred. They still track it."""

    event_type = "shouwen.case.referred.v1"

    referral: Referral
    reason: Text | None = None  # the explanation given to the inquirer


@register
class HandoffAccepted(EventPayload):
    """The handler a case was referred to took it on."""

    event_type = "shouwen.case.handoff_accepted.v1"

    handler: StaffMember
    section_id: Id | None = None


class EscalationReason(StrEnum):
    unclear_jurisdiction = "unclear_jurisdiction"  # 请示领导，协调解决
    complaint = "complaint"  # complaints, reports, tip-offs go to the principal leader
    time_limit_warning = "time_limit_warning"
    time_limit_breached = "time_limit_breached"
    other = "other"


@register
class CaseEscalated(EventPayload):
    """The case was brought before a leader (escalation)."""

    event_type = "shouwen.case.escalated.v1"

    leader: LeaderRef
    reason: EscalationReason
    details: Text | None = None
    ladder_step: Annotated[int, Field(ge=1, le=10)] | None = None

    @model_validator(mode="after")
    def _other_needs_details(self) -> CaseEscalated:
        if self.reason is EscalationReason.other and self.details is None:
            raise ValueError("details is required when reason is 'other'")
        return self


@register
class TransferRequested(EventPayload):
    """The responsible person asks the leadership to hand the case to someone else."""

    event_type = "shouwen.case.transfer_requested.v1"

    reason: Text
    proposed_responsible: StaffMember | None = None
    asked_of: LeaderRef | None = None


@register
class TransferApproved(EventPayload):
    """The leadership approved; the inquirer is told the new responsible person."""

    event_type = "shouwen.case.transfer_approved.v1"

    approver: LeaderRef
    previous_responsible_id: Id
    new_responsible: StaffMember


@register
class TransferRejected(EventPayload):
    """The leadership refused the transfer; the responsible person keeps the case."""

    event_type = "shouwen.case.transfer_rejected.v1"

    approver: LeaderRef
    reason: Text
