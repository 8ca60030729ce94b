"""Time limits on a case, as deadline-watch sees them (DOMAIN.md section 4).

    deadline_set       an obligation's clock started, moved (extension, resume after a pause)
                       or was paused; the due time in force, and whether it is provisional
                       (the year is not covered by a loaded official schedule)
    deadline_warned    the due time is near (a share of the limit used, or one working day
                       left), told to the person responsible
    deadline_breached  the due time passed with the obligation unmet; the person responsible
                       is told. The escalation ladder that follows is ``case.escalated``
                       (reason time_limit_breached, ladder_step 1.. = section head,
                       supervising leader, principal leader)
    deadline_met       the obligation was fulfilled (or cancelled) and its timers stopped

``obligation`` names which clock; one case may run several at once (reply and complete).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from events.envelope import UtcTime
from events.fields import Id, ShortText
from events.registry import EventPayload, register


class Obligation(StrEnum):
    forward = "forward"  # pass a case that can't be done on the spot on: 2 working days
    reply = "reply"  # reply to a letter / visit / complaint: 3, 7 or 15 (unit policy)
    complete = "complete"  # the matter catalogue's committed time limit (承诺时限)
    accept_referral = "accept_referral"  # the named handler takes the handoff
    supply_materials = "supply_materials"  # the inquirer's side: informational only
    investigation = "investigation"  # accountability investigation: 30 (+15) working days
    decision_delivery = "decision_delivery"  # deliver a decision: 10 working days
    review_request = "review_request"  # the sanctioned person may ask for review: 15 days
    review_decision = "review_decision"  # decide the review: 30 days


class ClockState(StrEnum):
    running = "running"
    paused = "paused"  # waiting for the inquirer's materials: the clock stands still


WorkingDays = Annotated[int, Field(ge=0, le=366)]


@register
class DeadlineSet(EventPayload):
    """The due time in force for one obligation of the case."""

    event_type = "shouwen.case.deadline_set.v1"

    obligation: Obligation
    due_at: UtcTime
    limit_working_days: WorkingDays | None = None  # None: calendar days (review windows)
    limit_calendar_days: Annotated[int, Field(ge=0, le=366)] | None = None
    state: ClockState = ClockState.running
    provisional: bool = False  # computed by the library's rules: no official schedule loaded
    calendar_id: Id
    responsible_id: Id | None = None  # who must meet it
    basis: ShortText | None = None  # the policy it comes from, e.g. "Wuwei art. 6"
    previous_due_at: UtcTime | None = None  # set when the due time moved


@register
class DeadlineWarned(EventPayload):
    """The due time is near; the person responsible was warned."""

    event_type = "shouwen.case.deadline_warned.v1"

    obligation: Obligation
    due_at: UtcTime
    responsible_id: Id | None = None
    working_days_left: Annotated[int, Field(ge=0, le=366)]


@register
class DeadlineBreached(EventPayload):
    """The due time passed with the obligation unmet (超时)."""

    event_type = "shouwen.case.deadline_breached.v1"

    obligation: Obligation
    due_at: UtcTime
    responsible_id: Id | None = None


@register
class DeadlineMet(EventPayload):
    """The obligation was fulfilled or fell away; its timers are stopped."""

    event_type = "shouwen.case.deadline_met.v1"

    obligation: Obligation
    due_at: UtcTime
    on_time: bool
    cancelled: bool = False  # fell away (case closed, referred out) rather than fulfilled
