"""What the deadline rules need of a working-day calendar (services.calendar provides it).

The rules are typed against these protocols, not the calendar package, so that a unit test
can hand them a five-line fake and the rules never import the calendar's storage.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

CIVIL_TIME = ZoneInfo("Asia/Shanghai")  # the units' civil time, as services.calendar uses
INSTANT = timedelta(microseconds=1)


class DueLike(Protocol):
    @property
    def at(self) -> datetime: ...  # end of the due working day, UTC
    @property
    def day(self) -> date: ...
    @property
    def provisional(self) -> bool: ...


class Calendar(Protocol):
    @property
    def calendar_id(self) -> str: ...
    def covers(self, year: int) -> bool: ...
    def add_working_days(self, start: datetime, days: int) -> DueLike: ...
    def add_calendar_days(self, start: datetime, days: int) -> DueLike: ...
    def working_days_between(self, start: datetime, end: datetime) -> int: ...


def end_of_day(day: date) -> datetime:
    """24:00 civil time of ``day``, as a UTC instant (how a due day ends)."""
    nxt = day + timedelta(days=1)
    return datetime(nxt.year, nxt.month, nxt.day, tzinfo=CIVIL_TIME).astimezone(ZoneInfo("UTC"))


def civil_day(instant: datetime) -> date:
    return instant.astimezone(CIVIL_TIME).date()
