"""A unit's time limits in ONE place: its policy (policy.py, the book in force) counted on
its calendar (rules.py, the CalendarBook). Deadline-watch plans its timers by them, and an
accountability procedure shows its due dates by the very same values and days.

    UnitRules(policy, calendar)
        .working_days_after(day, n)    the civil day n working days after ``day``
        .calendar_days_after(day, n)   the civil day n days after ``day``
    unit_rules(conn, unit_id)          the unit's policy and calendar in force
    national()                         the presets on the national calendar as shipped (no
                                       database at hand: pure callers and their tests)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache

import psycopg

from services.calendar.builtin import builtin_book
from services.calendar.policy import UnitPolicy
from services.calendar.policy_store import policy_book
from services.calendar.rules import CIVIL_TIME, WorkingCalendar
from services.calendar.store import load_book


@dataclass(frozen=True)
class UnitRules:
    policy: UnitPolicy
    calendar: WorkingCalendar

    def working_days_after(self, day: date, n: int) -> date:
        return self.calendar.add_working_days(datetime.combine(day, time(12), CIVIL_TIME), n).day

    def calendar_days_after(self, day: date, n: int) -> date:
        return day + timedelta(days=n)


def unit_rules(conn: psycopg.Connection, unit_id: str | None) -> UnitRules:
    return UnitRules(policy_book(conn).for_unit(unit_id), load_book(conn).for_unit(unit_id))


@cache
def national() -> UnitRules:
    return UnitRules(UnitPolicy(), builtin_book().default)
