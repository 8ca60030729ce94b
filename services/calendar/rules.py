"""Which civil days are working days, and due times counted in them (pure rules, no I/O).

    is_working_day(day)
      ├─ an official schedule is loaded for day.year (covers(year) is true):
      │     its holidays off, its make-up working days (调休) on, else Monday-Friday on
      └─ otherwise the library's rules (``holidays`` for the calendar's country):
            its holidays off, the weekend workdays it knows on, else its working week on

    add_working_days(start, n)     counts from the civil day AFTER start's civil day
    add_calendar_days(start, n)    start's civil day + n (review windows)
    working_days_between(a, b)     working days in (a's civil day, b's civil day]

A Due is provisional when a day it counted lies in a year that no loaded schedule covers:
the library only guesses that year (make-up days are announced each November).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays as holidays_lib

CIVIL_TIME = ZoneInfo("Asia/Shanghai")  # deadlines are counted in the unit's civil time
DEFAULT_COUNTRY = "CN"
_SEARCH_YEARS = 10  # a calendar with no working day in ten years is broken


@dataclass(frozen=True)
class Due:
    at: datetime  # UTC instant: the END of the due working day (24:00 civil time)
    day: date  # the due working day (civil)
    provisional: bool  # some day counted lies in a year no loaded official schedule covers


@dataclass(frozen=True)
class Schedule:
    """One year's official schedule for one calendar: days off and make-up working days."""

    calendar_id: str
    year: int
    country: str
    holidays: frozenset[date]
    make_up_days: frozenset[date]


@dataclass(frozen=True)
class _Year:
    off: frozenset[date]
    on: frozenset[date]
    working: list[date]  # every working day of the year, in order (for bisect)


class WorkingCalendar:
    """A calendar: the library's rules for ``country``, overridden year by year by the
    official schedules loaded for it."""

    def __init__(self, calendar_id: str, country: str = DEFAULT_COUNTRY,
                 schedules: Iterable[Schedule] = (), civil_time: ZoneInfo = CIVIL_TIME) -> None:
        self.calendar_id, self.country, self.civil_time = calendar_id, country, civil_time
        self.schedules = {s.year: s for s in schedules}
        self._weekend = frozenset(holidays_lib.country_holidays(country).weekend)
        self._years: dict[int, _Year] = {}

    def __repr__(self) -> str:
        return (f"WorkingCalendar({self.calendar_id!r}, country={self.country!r}, "
                f"covers={sorted(self.schedules)})")

    def covers(self, year: int) -> bool:
        return year in self.schedules

    def is_working_day(self, day: date) -> bool:
        rules = self._year(day.year)
        if day in rules.on:
            return True
        return day not in rules.off and day.weekday() not in self._weekend

    def civil_day(self, when: datetime) -> date:
        if when.tzinfo is None:
            raise ValueError("start/end must be timezone-aware (a UTC instant)")
        return when.astimezone(self.civil_time).date()

    def end_of(self, day: date) -> datetime:
        """24:00 civil time of ``day`` as a UTC instant."""
        return datetime.combine(day + timedelta(days=1), time(0), self.civil_time).astimezone(UTC)

    def add_working_days(self, start: datetime, days: int) -> Due:
        if days < 0:
            raise ValueError("days must be >= 0")
        first = self.civil_day(start)
        year, provisional = first.year, not self.covers(first.year)
        if days == 0:
            return Due(self.end_of(first), first, provisional)
        working = self._year(year).working
        i = bisect_right(working, first)  # the first working day after start's day
        while days > len(working) - i:
            days -= len(working) - i
            year += 1
            if year - first.year > _SEARCH_YEARS:
                raise ValueError(f"calendar {self.calendar_id}: too few working days ahead")
            working, i = self._year(year).working, 0
            provisional = provisional or not self.covers(year)
        day = working[i + days - 1]
        return Due(self.end_of(day), day, provisional)

    def add_calendar_days(self, start: datetime, days: int) -> Due:
        """Plain calendar days: no schedule is involved, so never provisional."""
        if days < 0:
            raise ValueError("days must be >= 0")
        day = self.civil_day(start) + timedelta(days=days)
        return Due(self.end_of(day), day, False)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        first, last = self.civil_day(start), self.civil_day(end)
        count = 0
        for year in range(first.year, last.year + 1):
            working = self._year(year).working
            count += bisect_right(working, last) - bisect_right(working, first)
        return max(count, 0)

    def _year(self, year: int) -> _Year:
        known = self._years.get(year)
        if known is None:
            known = self._years[year] = self._rules_for(year)
        return known

    def _rules_for(self, year: int) -> _Year:
        official = self.schedules.get(year)
        if official is not None:
            off, on = official.holidays, official.make_up_days
        else:
            library = holidays_lib.country_holidays(self.country, years=year)
            worked: set[date] = getattr(library, "weekend_workdays", set())
            off = frozenset(d for d in library if d.year == year)
            on = frozenset(d for d in worked if d.year == year)
        days = (date(year, 1, 1) + timedelta(days=n) for n in range(366))
        working = [d for d in days if d.year == year and (
            d in on or (d not in off and d.weekday() not in self._weekend))]
        return _Year(off, on, working)


def known_country(code: str) -> bool:
    return code in holidays_lib.list_supported_countries()


def country_of(calendar_id: str) -> str | None:
    """The country whose rules a calendar id implies: "CN", "CN-XZ" -> "CN"; else None."""
    head = calendar_id.split("-", 1)[0].upper()
    return head if known_country(head) else None
