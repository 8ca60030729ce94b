"""From open clocks to timers, and from a due timer to the event it fires. Pure.

    plan(clocks)          every running clock ─▶ warn (if the policy warns and it falls
                          inside the limit), breach (at the due time), escalate-1..n
                          (n working-day delays after it); windows get the breach only
    announcements(clocks) the deadline_set / deadline_met the case's stream lacks: a clock
                          started, moved, paused or resumed, or ended after being announced
    fire(clocks, timer, leaders)  deadline_warned / deadline_breached / case.escalated

Every timer and announcement has a deterministic id (uuid5 over case, obligation, kind and
due time): a redelivery, a rebuild or a second replica computes the same id, and the store
takes a re-appended id as a no-op. A moved due time makes new ids; the old ones fall away.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from events.case_referral import CaseEscalated, EscalationReason
from events.deadline import (
    ClockState,
    DeadlineBreached,
    DeadlineMet,
    DeadlineSet,
    DeadlineWarned,
    Obligation,
)
from events.registry import EventPayload
from services.calendar.policy import BASIS, UnitPolicy, WarningMode
from services.deadline_watch.calendar_port import INSTANT, Calendar
from services.deadline_watch.ladder import Leaders, kind_of_step, recipient, step_of_kind
from services.deadline_watch.obligations import CaseClocks, Clock

NAMESPACE = uuid.UUID("5e0a7c1e-0000-4000-8000-000000000007")
WARN, BREACH = "warn", "breach"


@dataclass(frozen=True)
class Timer:
    obligation: Obligation
    kind: str  # warn | breach | escalate-<n>
    fire_at: datetime
    due_at: datetime
    event_id: uuid.UUID
    responsible_id: str | None
    working_days_left: int = 0


def event_id(case_id: str, obligation: str, kind: str, due_at: datetime) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{case_id}/{obligation}/{kind}/{due_at.isoformat()}")


def plan(cc: CaseClocks, policy: UnitPolicy, calendar: Calendar) -> list[Timer]:
    timers: list[Timer] = []
    for clock in cc.clocks.values():
        if not clock.running:
            continue
        o = clock.obligation

        def timer(kind: str, at: datetime, left: int = 0, c: Clock = clock) -> Timer:
            return Timer(c.obligation, kind, at, c.due_at,
                         event_id(cc.case_id, c.obligation, kind, c.due_at), c.responsible_id,
                         left)

        if o not in policy.windows:
            warn = warning_at(clock, policy, calendar)
            if warn is not None:
                left = calendar.working_days_between(warn, clock.due_at - INSTANT)
                timers.append(timer(WARN, warn, max(left, 0)))
        timers.append(timer(BREACH, clock.due_at))
        if o in policy.windows:
            continue
        for step in range(1, policy.ladder_steps + 1):
            at = calendar.add_working_days(clock.due_at - INSTANT,
                                           step * policy.ladder_delay_working_days).at
            timers.append(timer(kind_of_step(step), at))
    return timers


def warning_at(clock: Clock, policy: UnitPolicy, calendar: Calendar) -> datetime | None:
    """When to warn: after ``share`` of the time between start and due, or at the start of
    the due day; None when that is not strictly inside the limit (e.g. a same-day limit)."""
    rule = policy.warning
    if rule.mode is WarningMode.off:
        return None
    if rule.mode is WarningMode.share:
        at = clock.started_at + (clock.due_at - clock.started_at) * rule.share
    else:
        at = clock.due_at - timedelta(days=1)
    return at if clock.started_at < at < clock.due_at else None


def _set_payload(clock: Clock) -> DeadlineSet:
    return DeadlineSet(
        obligation=clock.obligation, due_at=clock.due_at,
        limit_working_days=clock.limit_working_days,
        limit_calendar_days=clock.limit_calendar_days, state=clock.state,
        provisional=clock.provisional, calendar_id=clock.calendar_id,
        responsible_id=clock.responsible_id, basis=BASIS.get(clock.obligation),
        previous_due_at=clock.previous_due_at)


def announcements(cc: CaseClocks) -> list[tuple[uuid.UUID, EventPayload]]:
    """What to append so the stream says each clock's state in force."""
    out: list[tuple[uuid.UUID, EventPayload]] = []
    for clock in cc.clocks.values():
        said = cc.announced.get(clock.obligation)
        o = clock.obligation
        payload: EventPayload
        if clock.open:
            payload = _set_payload(clock)
            same = (said is not None and said["type"] == "deadline_set"
                    and datetime.fromisoformat(said["due_at"]) == clock.due_at
                    and said.get("state") == clock.state.value
                    and said.get("responsible_id") == clock.responsible_id)
            kind = f"set-{clock.state.value}-{clock.responsible_id}"
        else:
            if said is None or said["type"] == "deadline_met":
                continue  # never announced (ended before watched), or already said
            assert clock.ended_at is not None
            payload = DeadlineMet(obligation=o, due_at=clock.due_at,
                                  on_time=clock.ended_at <= clock.due_at,
                                  cancelled=clock.ended == "cancelled")
            same, kind = False, f"met-{clock.ended_at.isoformat()}"
        if not same:
            out.append((event_id(cc.case_id, o, kind, clock.due_at), payload))
    return out


def fire(cc: CaseClocks, timer: Timer, leaders: Leaders | None) -> EventPayload | None:
    """The event a due timer appends; None when its rung of the ladder is held by nobody."""
    if timer.kind == WARN:
        return DeadlineWarned(obligation=timer.obligation, due_at=timer.due_at,
                              responsible_id=timer.responsible_id,
                              working_days_left=timer.working_days_left)
    if timer.kind == BREACH:
        return DeadlineBreached(obligation=timer.obligation, due_at=timer.due_at,
                                responsible_id=timer.responsible_id)
    step = step_of_kind(timer.kind)
    if step is None or leaders is None:
        return None
    leader = recipient(step, leaders, timer.responsible_id, cc.unit_id, cc.section_id)
    if leader is None:
        return None
    return CaseEscalated(
        leader=leader, reason=EscalationReason.time_limit_breached, ladder_step=step,
        details=f"{timer.obligation.value} was due {timer.due_at.isoformat()} "
                f"(responsible: {timer.responsible_id or 'unassigned'})")


__all__ = ["ClockState", "Timer", "announcements", "event_id", "fire", "plan", "warning_at"]
