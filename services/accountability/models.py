"""Request bodies of the procedure's steps and of the assessment scores.

Like intake's: unknown fields refused, text stripped and bounded, ``expected_version`` (the
case stream's) guards against acting on a stale view. Who acted, when, the procedure id,
violation numbers and leader roles are never taken from a request: the server derives them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from events.accountability import Circumstance, ResponsibilityKind, ReviewOutcome, Sanction
from events.fields import Id, ShortText, Text
from services.common.bodies import Action as Action  # the bodies' bases, re-exported
from services.common.bodies import Strict as Strict

Ids = Annotated[list[Id], Field(min_length=1, max_length=20)]
Circumstances = Annotated[list[Circumstance], Field(max_length=10)]


class Open(Action):
    """Open a procedure from a complaint on the case (default: the latest one without a
    procedure); against the person complained about, or the case's first responder."""

    complaint_event_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    against_staff_ids: Ids | None = None
    summary: Text


class Verify(Action):
    findings: Text
    proceed: bool


class Proposal(Action):
    proposal: Text


class Investigate(Action):
    group_member_ids: Ids
    # None: the unit's policy (investigation_working_days, 30 in the presets)
    limit_working_days: Annotated[int, Field(ge=1, le=366)] | None = None


class Extend(Action):
    approver_id: Id  # the leader who approved it
    # None: the unit's policy (investigation_extension_working_days, 15 in the presets)
    extra_working_days: Annotated[int, Field(ge=1, le=366)] | None = None
    reason: Text


class ResponsibilityIn(Strict):
    """One person's finding; ``sanction`` omitted: the proposed one (repeat count and
    circumstances)."""

    staff_id: Id
    kind: ResponsibilityKind
    sanction: Sanction | None = None
    mitigating: Circumstances = []
    aggravating: Circumstances = []
    circumstances_note: Text | None = None


Responsibilities = Annotated[list[ResponsibilityIn], Field(max_length=20)]


class Decide(Action):
    """``responsibilities`` omitted on an upheld complaint: the proposed chain and sanctions."""

    decided_by_id: Id  # the leader whose decision it is
    upheld: bool
    reasoning: Text
    responsibilities: Responsibilities | None = None


class Deliver(Action):
    delivered_to_ids: Ids | None = None  # default: everyone the decision names
    rights_told: bool


class ReviewRequest(Action):
    grounds: Text


class ReviewDecide(Action):
    outcome: ReviewOutcome
    reason: Text
    varied_responsibilities: Responsibilities = []


class Close(Action):
    withdraw: bool = False  # before the decision, the only way to close it
    note: ShortText | None = None


class Assessment(Strict):
    """The assessment group's score of a person or unit for a year (the 60% part)."""

    year: Annotated[int, Field(ge=2000, le=2100)]
    score: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
    note: Text | None = None
