"""How a case ends: reply, completion, delivery of the result, closing, rating, complaint.

    replied            the answer given (答复)
    completed          the outcome, in a summary
    result_delivered   how and to whom; in person with the pick-up record (取件登记)
    closed             the case is closed, and why
    rated.v1 ─upcast─▶ rated.v2   score 1..5 became one of five satisfaction levels
    complaint_filed    against a staff member or unit, with the complaint text

``rated.v1`` stays registered so stored events still validate; new writers use
``CaseRated`` (v2) and readers get v2 from ``decode_payload``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, model_validator

from events.envelope import UtcTime
from events.fields import PRINTABLE, Channel, Id, Name, PersonalText, Text, Value
from events.registry import EventPayload, register, upcaster

Comment = Annotated[str, Field(min_length=1, max_length=1000, pattern=PRINTABLE)]


@register
class CaseReplied(EventPayload):
    """The inquirer was given an answer."""

    event_type = "shouwen.case.replied.v1"

    answer: Text
    channel: Channel
    basis: Text | None = None  # the law or policy the answer rests on


class Outcome(StrEnum):
    resolved = "resolved"
    explained = "explained"  # e.g. against law or policy: the reasons were explained
    declined = "declined"


@register
class CaseCompleted(EventPayload):
    """The handling is finished."""

    event_type = "shouwen.case.completed.v1"

    outcome: Outcome
    summary: Text


class DeliveryMethod(StrEnum):
    pick_up = "pick_up"  # collected in person: needs a pick-up record
    post = "post"
    email = "email"
    sms = "sms"
    online = "online"
    phone = "phone"


class PickupRecord(Value):
    """The pick-up record (取件登记表): who collected the result, and when."""

    record_number: Id
    collector_name: PersonalText
    collector_id_number: PersonalText | None = None
    by_proxy: bool = False
    picked_up_at: UtcTime


@register
class ResultDelivered(EventPayload):
    """The result reached the inquirer."""

    event_type = "shouwen.case.result_delivered.v1"

    method: DeliveryMethod
    recipient_name: PersonalText
    recipient_contact: PersonalText | None = None  # phone, email or postal address used
    pickup_record: PickupRecord | None = None

    @model_validator(mode="after")
    def _pickup_record_iff_picked_up(self) -> ResultDelivered:
        picked_up = self.method is DeliveryMethod.pick_up
        if picked_up and self.pickup_record is None:
            raise ValueError("pickup_record is required when method is 'pick_up'")
        if not picked_up and self.pickup_record is not None:
            raise ValueError("pickup_record is only for method 'pick_up'")
        return self


class ClosingReason(StrEnum):
    completed = "completed"
    withdrawn = "withdrawn"
    duplicate = "duplicate"
    unreachable = "unreachable"


@register
class CaseClosed(EventPayload):
    event_type = "shouwen.case.closed.v1"

    reason: ClosingReason
    note: Text | None = None


@register
class CaseRatedV1(EventPayload):
    """Superseded by shouwen.case.rated.v2; kept so stored events validate. Do not write."""

    event_type = "shouwen.case.rated.v1"

    score: Annotated[int, Field(ge=1, le=5)]
    comment: Comment | None = None


class SatisfactionLevel(StrEnum):
    very_satisfied = "非常满意"
    satisfied = "满意"
    basically_satisfied = "基本满意"
    dissatisfied = "不满意"
    very_dissatisfied = "非常不满意"


@register
class CaseRated(EventPayload):
    """The inquirer rated the service (满意度), possibly anonymously."""

    event_type = "shouwen.case.rated.v2"

    level: SatisfactionLevel
    comment: Comment | None = None
    anonymous: bool


_LEVEL_OF_SCORE = {
    5: SatisfactionLevel.very_satisfied,
    4: SatisfactionLevel.satisfied,
    3: SatisfactionLevel.basically_satisfied,
    2: SatisfactionLevel.dissatisfied,
    1: SatisfactionLevel.very_dissatisfied,
}


@upcaster(CaseRatedV1.event_type, CaseRated.event_type)
def rated_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Score 5..1 -> 非常满意..非常不满意. v1 had no anonymity: its rater was recorded."""
    old = CaseRatedV1.model_validate(data)
    return {"level": _LEVEL_OF_SCORE[old.score].value, "comment": old.comment, "anonymous": False}


@register
class ComplaintFiled(EventPayload):
    """A complaint about how the case was handled, against a staff member or a unit."""

    event_type = "shouwen.case.complaint_filed.v1"

    against_staff_id: Id | None = None
    against_staff_name: Name | None = None
    against_unit_id: Id | None = None
    complaint: Text
    channel: Channel
    complainant_name: PersonalText | None = None  # None: anonymous (意见箱)
    complainant_phone: PersonalText | None = None

    @model_validator(mode="after")
    def _against_someone(self) -> ComplaintFiled:
        if self.against_staff_id is None and self.against_unit_id is None:
            raise ValueError("against_staff_id or against_unit_id is required")
        return self
