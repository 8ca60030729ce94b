"""The accountability procedure a complaint opens (问责程序, DOMAIN.md sections 5 and 6).

    accountability_opened ─▶ preliminary_verified ─┬─▶ (proceed=false) accountability_closed
                                                   └─▶ proposal_written ─▶ investigation_started
    investigation_started ─▶ [investigation_extended: +15 working days, approved]
                          ─▶ accountability_decided  (responsibility chain + sanctions)
                          ─▶ decision_delivered      (within 10 working days; rights told)
                          ─▶ [review_requested within 15 days ─▶ review_decided within 30]
                          ─▶ accountability_closed

The events live on the case's own stream (subject = case id), so the case's replay shows the
procedure beside the handling it judges. ``procedure_id`` tells procedures of one case apart.
Supervisor-role users (纪检监察) act; the decision names a leader who made it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from events.fields import Id, LeaderRef, Name, ShortText, Text, Value
from events.registry import EventPayload, register

ProcedureId = Id


class _Step(EventPayload):
    procedure_id: ProcedureId


@register
class AccountabilityOpened(_Step):
    """A complaint (or a breach found by supervision) opened a procedure."""

    event_type = "shouwen.case.accountability_opened.v1"

    complaint_event_id: Annotated[str, Field(max_length=64)] | None = None
    against_staff_ids: Annotated[list[Id], Field(max_length=20)] = []
    against_unit_id: Id | None = None
    summary: Text


@register
class PreliminaryVerified(_Step):
    """The office checked the facts (初核); ``proceed`` false ends the procedure."""

    event_type = "shouwen.case.preliminary_verified.v1"

    findings: Text
    proceed: bool


@register
class ProposalWritten(_Step):
    """The written proposal (书面意见) to investigate."""

    event_type = "shouwen.case.proposal_written.v1"

    proposal: Text


@register
class InvestigationStarted(_Step):
    """An investigation group took the case: 30 working days by default."""

    event_type = "shouwen.case.investigation_started.v1"

    group_member_ids: Annotated[list[Id], Field(min_length=1, max_length=20)]
    limit_working_days: Annotated[int, Field(ge=1, le=366)] = 30


@register
class InvestigationExtended(_Step):
    """Approved extension of the investigation: +15 working days by default."""

    event_type = "shouwen.case.investigation_extended.v1"

    approver: LeaderRef
    extra_working_days: Annotated[int, Field(ge=1, le=366)] = 15
    reason: Text


class ResponsibilityKind(StrEnum):
    direct = "direct"  # 直接责任: the first responder
    main_leadership = "main_leadership"  # 主要领导责任: the head of their section
    important_leadership = "important_leadership"  # 重要领导责任: the supervising leader


class Sanction(StrEnum):
    """The ladder of DOMAIN.md section 5, mildest first, and the repeat-violation steps."""

    none = "none"
    warning_reminder = "warning_reminder"  # 警示提醒
    criticism_and_apology = "criticism_and_apology"  # 1st violation: criticism, apology
    admonishment = "admonishment"  # 诫勉谈话/督导
    order_to_correct = "order_to_correct"  # 责令纠错
    circulated_criticism = "circulated_criticism"  # 通报批评 (2nd violation)
    efficiency_warning = "efficiency_warning"  # 效能告诫 (3rd and more)
    fail_annual_assessment = "fail_annual_assessment"  # 考核不称职
    disciplinary_action = "disciplinary_action"  # 纪律处分
    removal_from_post = "removal_from_post"  # 调离/下岗 (3rd and more: transfer)


class Circumstance(StrEnum):
    false_information = "false_information"  # the inquirer supplied false information
    rules_silent = "rules_silent"
    force_majeure = "force_majeure"
    obstructed_investigation = "obstructed_investigation"
    retaliated_against_complainant = "retaliated_against_complainant"
    other = "other"


MITIGATING = frozenset(
    {Circumstance.false_information, Circumstance.rules_silent, Circumstance.force_majeure}
)
AGGRAVATING = frozenset(
    {Circumstance.obstructed_investigation, Circumstance.retaliated_against_complainant}
)


class Responsibility(Value):
    staff_id: Id
    name: Name | None = None
    kind: ResponsibilityKind
    sanction: Sanction
    violation_number: Annotated[int, Field(ge=1, le=1000)]  # 1st, 2nd, 3rd ... violation
    mitigating: Annotated[list[Circumstance], Field(max_length=10)] = []
    aggravating: Annotated[list[Circumstance], Field(max_length=10)] = []
    circumstances_note: Text | None = None


@register
class AccountabilityDecided(_Step):
    """The leadership's decision: who bears which responsibility, and the sanction."""

    event_type = "shouwen.case.accountability_decided.v1"

    decided_by: LeaderRef
    responsibilities: Annotated[list[Responsibility], Field(max_length=20)]
    reasoning: Text
    upheld: bool  # false: the complaint was not upheld and no one is sanctioned

    @model_validator(mode="after")
    def _sanctions_follow_finding(self) -> AccountabilityDecided:
        if self.upheld and not self.responsibilities:
            raise ValueError("responsibilities are required when the complaint is upheld")
        return self


@register
class DecisionDelivered(_Step):
    """The decision reached the persons concerned, who were told their rights."""

    event_type = "shouwen.case.decision_delivered.v1"

    delivered_to_ids: Annotated[list[Id], Field(min_length=1, max_length=20)]
    rights_told: bool


@register
class ReviewRequested(_Step):
    """A sanctioned person asked for a review (within 15 days of receiving the decision)."""

    event_type = "shouwen.case.review_requested.v1"

    requested_by_id: Id
    grounds: Text


class ReviewOutcome(StrEnum):
    upheld = "upheld"
    varied = "varied"
    revoked = "revoked"


@register
class ReviewDecided(_Step):
    """The review's decision (within 30 days); an appeal goes to the supervision authority."""

    event_type = "shouwen.case.review_decided.v1"

    outcome: ReviewOutcome
    reason: Text
    varied_responsibilities: Annotated[list[Responsibility], Field(max_length=20)] = []


class ClosingGround(StrEnum):
    not_substantiated = "not_substantiated"  # preliminary verification found nothing
    decided = "decided"  # decision delivered, no review requested in time
    reviewed = "reviewed"
    withdrawn = "withdrawn"


@register
class AccountabilityClosed(_Step):
    event_type = "shouwen.case.accountability_closed.v1"

    ground: ClosingGround
    note: ShortText | None = None
