"""Every calendar, and which unit uses which (pure; the store and the packaged files fill it).

    CalendarBook
      default            the deployment's calendar (national, e.g. "CN")
      calendars          calendar id -> WorkingCalendar (its library rules + loaded schedules)
      units              unit id -> calendar id (a unit with none uses the default)
      for_unit(unit_id)  the unit's calendar, else the default
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from services.calendar.rules import DEFAULT_COUNTRY, Schedule, WorkingCalendar, country_of

DEFAULT_CALENDAR = "CN"


@dataclass(frozen=True)
class CalendarBook:
    default: WorkingCalendar
    calendars: Mapping[str, WorkingCalendar] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)

    def for_unit(self, unit_id: str | None) -> WorkingCalendar:
        calendar_id = self.units.get(unit_id) if unit_id is not None else None
        if calendar_id is None:
            return self.default
        return self.calendars.get(calendar_id, self.default)

    def calendar(self, calendar_id: str) -> WorkingCalendar | None:
        return self.calendars.get(calendar_id)

    def uncovered(self, today: date) -> list[tuple[str, int]]:
        """(calendar, year) pairs for this year and next that no loaded schedule covers."""
        return [(c.calendar_id, y) for c in self.calendars.values()
                for y in (today.year, today.year + 1) if not c.covers(y)]


def build_book(schedules: Iterable[Schedule], units: Mapping[str, str] | None = None,
               default_id: str = DEFAULT_CALENDAR) -> CalendarBook:
    """A book from the schedules in force (one per calendar and year) and the unit mapping.
    A calendar named only by a unit or as the default gets its country's library rules."""
    units = dict(units or {})
    by_calendar: dict[str, list[Schedule]] = {}
    for schedule in schedules:
        by_calendar.setdefault(schedule.calendar_id, []).append(schedule)
    ids = {default_id, *by_calendar, *units.values()}
    calendars = {cid: _calendar(cid, by_calendar.get(cid, [])) for cid in sorted(ids)}
    return CalendarBook(calendars[default_id], calendars, units)


def _calendar(calendar_id: str, schedules: list[Schedule]) -> WorkingCalendar:
    newest = max(schedules, key=lambda s: s.year, default=None)
    country = newest.country if newest else (country_of(calendar_id) or DEFAULT_COUNTRY)
    return WorkingCalendar(calendar_id, country, schedules)
