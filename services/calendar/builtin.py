"""The calendar without a database: the library's rules plus the packaged official schedules
(services/demo/calendar-*.yaml, package data; deploy/demo links there), for tools, tests and
the first start of `shouwen up`."""

from __future__ import annotations

from datetime import date, datetime, time
from functools import cache
from importlib import resources
from pathlib import Path

from services.calendar.book import DEFAULT_CALENDAR, CalendarBook, build_book
from services.calendar.rules import CIVIL_TIME, WorkingCalendar
from services.calendar.schedule_file import ScheduleFile, read_schedule

# Package data, found through importlib.resources: an installed wheel carries it (its
# files are on disk: pip installs wheels unpacked), not only a source checkout.
PACKAGED_DIR = Path(str(resources.files("services").joinpath("demo")))


def packaged_schedules() -> list[Path]:
    """The official schedule files shipped with Shouwen, oldest year first."""
    return sorted(PACKAGED_DIR.glob("calendar-*.yaml"))


@cache
def _packaged() -> tuple[ScheduleFile, ...]:
    return tuple(read_schedule(path) for path in packaged_schedules())


def builtin_book(default_id: str = DEFAULT_CALENDAR) -> CalendarBook:
    return build_book([f.schedule for f in _packaged()], default_id=default_id)


def today() -> date:
    """Today's civil day (not the server's)."""
    return datetime.now(CIVIL_TIME).date()


@cache
def _national() -> WorkingCalendar:
    return builtin_book().default


def working_day_after(day: date, days: int) -> date:
    """The civil day ``days`` working days after ``day`` by the national calendar as shipped
    (library rules + packaged schedules): for figures shown beside a rule, such as an
    accountability procedure's due dates. Deadline-watch uses each unit's loaded calendar."""
    start = datetime.combine(day, time(12), tzinfo=CIVIL_TIME)
    return _national().add_working_days(start, days).day
