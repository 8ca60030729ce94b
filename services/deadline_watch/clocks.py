"""A case's clocks and the moves a rule can make on them (start, end, move, pause, resume).

    Clock        one obligation: started, due (instant, civil day, provisional), running or
                 paused (with the working days that were left), ended (met | cancelled)
    CaseClocks   every clock of one case, what the stream last said of each, its event ids
    Fold         the moves, counted on the unit's calendar under the unit's policy

Pure: no I/O. The rules that call these moves are in ``obligations``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from events.deadline import ClockState, Obligation
from services.calendar.policy import UnitPolicy
from services.deadline_watch.calendar_port import INSTANT, Calendar, end_of_day


@dataclass(frozen=True)
class Clock:
    obligation: Obligation
    started_at: datetime
    due_at: datetime
    due_day: date
    provisional: bool
    calendar_id: str
    responsible_id: str | None
    limit_working_days: int | None = None
    limit_calendar_days: int | None = None
    state: ClockState = ClockState.running
    paused_at: datetime | None = None
    remaining: int = 0  # working days left when it was paused
    previous_due_at: datetime | None = None
    ended: str | None = None  # "met" or "cancelled"
    ended_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.ended is None

    @property
    def running(self) -> bool:
        return self.ended is None and self.state is ClockState.running


@dataclass
class CaseClocks:
    case_id: str
    unit_id: str | None = None
    section_id: str | None = None
    responsible_id: str | None = None
    handler_id: str | None = None
    version: int = 0
    clocks: dict[Obligation, Clock] = field(default_factory=dict)
    announced: dict[Obligation, dict[str, Any]] = field(default_factory=dict)  # last said
    event_ids: set[Any] = field(default_factory=set)


class Fold:
    def __init__(self, case_id: str, policy: UnitPolicy, calendar: Calendar) -> None:
        self.c = CaseClocks(case_id)
        self.policy, self.cal = policy, calendar

    def start(self, o: Obligation, at: datetime, working: int | None = None,
              days: int | None = None, responsible: str | None = None,
              committed: date | None = None) -> None:
        """Start (or restart) ``o``: due after ``working`` working days or ``days``
        calendar days; ``committed``: the due day the inquirer was told, which stands."""
        due = (self.cal.add_working_days(at, working) if working is not None
               else self.cal.add_calendar_days(at, days or 0))
        at_, day = (end_of_day(committed), committed) if committed else (due.at, due.day)
        self.c.clocks[o] = Clock(o, at, at_, day, due.provisional,
                                 self.cal.calendar_id, responsible, working, days)

    def end(self, o: Obligation, how: str, at: datetime) -> None:
        clock = self.c.clocks.get(o)
        if clock is not None and clock.open:
            self.c.clocks[o] = replace(clock, ended=how, ended_at=at)

    def move(self, o: Obligation, due_day: date) -> None:
        clock = self.c.clocks.get(o)
        if clock is None or not clock.open:
            return
        at = end_of_day(due_day)
        remaining = (self.cal.working_days_between(clock.paused_at, at - INSTANT)
                     if clock.paused_at else clock.remaining)
        self.c.clocks[o] = replace(clock, due_at=at, due_day=due_day, previous_due_at=clock.due_at,
                                   provisional=not self.cal.covers(due_day.year),
                                   remaining=remaining)

    def pause(self, o: Obligation, at: datetime) -> None:
        clock = self.c.clocks.get(o)
        if clock is not None and clock.running:
            left = max(0, self.cal.working_days_between(at, clock.due_at - INSTANT))
            self.c.clocks[o] = replace(clock, state=ClockState.paused, paused_at=at, remaining=left)

    def resume(self, o: Obligation, at: datetime) -> None:
        clock = self.c.clocks.get(o)
        if clock is not None and clock.open and clock.state is ClockState.paused:
            due = self.cal.add_working_days(at, clock.remaining)
            self.c.clocks[o] = replace(clock, state=ClockState.running, paused_at=None,
                                       due_at=due.at, due_day=due.day,
                                       provisional=due.provisional, previous_due_at=clock.due_at)

    def responsible(self, o: Obligation, who: str | None) -> None:
        clock = self.c.clocks.get(o)
        if clock is not None and clock.open:
            self.c.clocks[o] = replace(clock, responsible_id=who)
