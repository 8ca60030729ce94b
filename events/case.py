"""Payloads of the case lifecycle (DOMAIN.md sections 1-4), one registered type per fact.

    received ─▶ classified ─▶ accepted ─┬─▶ one_time_notice_given ─▶ materials_supplied
                                        ├─▶ extension_requested ─▶ extension_granted|refused
                                        ├─▶ referred (internal | external) ─▶ handoff_accepted
                                        ├─▶ escalated,  transfer_requested ─▶ approved|rejected
                                        └─▶ replied ─▶ completed ─▶ result_delivered ─▶ closed
                                                                   rated,  complaint_filed

This module holds intake and time limits; ``case_referral`` who handles it,
``case_outcome`` how it ends. Importing this module registers them all. The envelope
already says which case (``subject``), who (``actor``) and when (``time``), so payloads
do not repeat them. An inquirer's personal data is typed ``PersonalText`` and appears only
where the fact needs it.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from events.envelope import UtcTime
from events.fields import (
    Channel,
    Contact,
    Id,
    LeaderRef,
    Name,
    PersonalText,
    ShortText,
    StaffMember,
    Text,
    Value,
)
from events.registry import EventPayload, register

__all__ = ["Channel", "Id", "LeaderRef", "PersonalText", "StaffMember", "Text"]


class ProblemLocation(Value):
    """Where the problem is (an Open311 request's address and coordinates): public, as
    GeoReport v2 publishes it; never the inquirer's own address."""

    address: ShortText | None = None
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)] | None = None
    long: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)] | None = None


@register
class CaseReceived(EventPayload):
    """An inquiry reached a staff member, who is now its first responder (首问责任人)."""

    event_type = "shouwen.case.received.v1"

    channel: Channel
    receipt_number: Id
    unit_id: Id
    matter: Text
    inquirer_name: PersonalText
    inquirer_phone: PersonalText | None = None
    inquirer_address: PersonalText | None = None
    inquirer_work_unit: PersonalText | None = None
    first_responder_id: Id
    first_responder_name: Name
    first_responder_duty: ShortText
    first_responder_contact: Contact
    inquirer_id_number: PersonalText | None = None
    inquirer_email: PersonalText | None = None
    # the language messages to the inquirer are written in (None: zh-CN)
    inquirer_language: Annotated[str, Field(max_length=5, pattern=r"^(zh-CN|en)$")] | None = None
    # a letter or forwarded item: when it was RECEIVED (postmark, hand-over), as entered by
    # received_at_entered_by; the envelope's time is this instant, so every time limit
    # counts from receipt (DOMAIN.md section 4). None: received when registered.
    received_at: UtcTime | None = None
    received_at_entered_by: Id | None = None
    forwarded_from: ShortText | None = None  # who handed the item over, if forwarded
    # migrated from a legacy 台账 by `shouwen import` (file digest and row): no notices
    imported_from: ShortText | None = None
    problem_location: ProblemLocation | None = None  # Open311: where the problem is


class Jurisdiction(StrEnum):
    """Whose matter it is — the rows of DOMAIN.md section 3."""

    own_duties = "own_duties"
    own_unit = "own_unit"  # another section of the first responder's unit
    other_unit = "other_unit"  # another unit of the city (its id in handling_unit_id)
    external_body = "external_body"  # a body outside the system: the inquirer is told where
    unclear = "unclear"  # ask the leadership (请示领导)
    against_law_or_policy = "against_law_or_policy"
    complaint = "complaint"  # complaint, report, tip-off: to the principal leader at once


class ClassificationMethod(StrEnum):
    catalogue = "catalogue"  # the matter catalogue's rules
    staff = "staff"  # a person's judgement
    model = "model"  # a text classifier


MatterTypeCode = Annotated[
    str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
]
_NEEDS_HANDLING_UNIT = {Jurisdiction.own_duties, Jurisdiction.own_unit, Jurisdiction.other_unit,
                        Jurisdiction.external_body}


@register
class CaseClassified(EventPayload):
    """The matter was given a type from the matter catalogue and a handling unit/section."""

    event_type = "shouwen.case.classified.v1"

    matter_type_code: MatterTypeCode
    matter_type_name: ShortText | None = None
    jurisdiction: Jurisdiction
    handling_unit_id: Id | None = None
    handling_section_id: Id | None = None
    method: ClassificationMethod
    confidence: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _unit_when_known(self) -> CaseClassified:
        if self.jurisdiction in _NEEDS_HANDLING_UNIT and self.handling_unit_id is None:
            raise ValueError(
                f"handling_unit_id is required when jurisdiction is {self.jurisdiction}"
            )
        return self


class TimeLimit(Value):
    """The committed time limit (承诺时限): working days by the official calendar, due date."""

    working_days: Annotated[int, Field(ge=0, le=366)]  # 0: the same day
    due_date: date
    basis: ShortText | None = None  # the rule it comes from, e.g. "Wuwei art. 6"
    # counted by the calendar library's rules: no official schedule was loaded for the year
    provisional: bool = False


@register
class CaseAccepted(EventPayload):
    """A named handler took the case on, under a time limit."""

    event_type = "shouwen.case.accepted.v1"

    handler: StaffMember
    section_id: Id | None = None
    time_limit: TimeLimit
    on_the_spot: bool = False
    handling_plan: Text | None = None  # how it will be handled, when not on the spot
    # the matter in force from now on, when the handler named it or corrected the
    # classification (absent: the classified matter stands); the time limit is its limit
    matter_type_code: MatterTypeCode | None = None
    matter_type_name: ShortText | None = None


class MissingMaterial(Value):
    name: ShortText
    requirements: Text | None = None  # e.g. "original and two copies, stamped"
    form: ShortText | None = None  # the form to fill in for it, if any


class Form(Value):
    name: ShortText
    where: ShortText  # counter, address or URL where the form is obtained


@register
class OneTimeNoticeGiven(EventPayload):
    """One-time notice (一次性告知) of ALL missing materials, so no one comes back twice."""

    event_type = "shouwen.case.one_time_notice_given.v1"

    missing_materials: Annotated[list[MissingMaterial], Field(min_length=1, max_length=100)]
    requirements: Text | None = None
    forms: Annotated[list[Form], Field(max_length=50)] = []
    notified_via: Channel
    # a later notice may add materials only because the inquirer changed the request
    request_changed: bool = False

    @model_validator(mode="after")
    def _each_material_once(self) -> OneTimeNoticeGiven:
        names = [m.name for m in self.missing_materials]
        if len(set(names)) != len(names):
            raise ValueError("missing_materials names a material twice")
        return self


@register
class MaterialsSupplied(EventPayload):
    """The inquirer brought (some of) the materials named in the one-time notice."""

    event_type = "shouwen.case.materials_supplied.v1"

    materials: Annotated[list[ShortText], Field(min_length=1, max_length=100)]
    outstanding: Annotated[list[ShortText], Field(max_length=100)] = []
    complete: bool
    # the inquirer's own submission (POST /v1/public/materials): what they wrote and where
    # the files are (references, e.g. a document system's ids); the handler to check them
    note: Text | None = None
    attachments: Annotated[list[ShortText], Field(max_length=20)] = []
    check_by_id: Id | None = None  # the staff member told to check them (in-app)

    @model_validator(mode="after")
    def _complete_means_nothing_outstanding(self) -> MaterialsSupplied:
        if self.complete and self.outstanding:
            raise ValueError("outstanding must be empty when complete is true")
        return self


@register
class ExtensionRequested(EventPayload):
    """The case cannot be finished in time; the leadership is asked for more (延期)."""

    event_type = "shouwen.case.extension_requested.v1"

    reason: Text
    proposed_due_date: date
    asked_of: LeaderRef | None = None


@register
class ExtensionGranted(EventPayload):
    """A leader approved a new due date; ``reason`` is what the inquirer is told."""

    event_type = "shouwen.case.extension_granted.v1"

    approver: LeaderRef
    new_due_date: date
    reason: Text


@register
class ExtensionRefused(EventPayload):
    """A leader refused the extension; the original due date stands."""

    event_type = "shouwen.case.extension_refused.v1"

    approver: LeaderRef
    reason: Text


# Importing the other lifecycle modules registers their types.
from events import case_matter as _case_matter  # noqa: E402,F401
from events import case_outcome as _case_outcome  # noqa: E402,F401
from events import case_referral as _case_referral  # noqa: E402,F401
