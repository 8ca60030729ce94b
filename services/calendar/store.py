"""The calendars in PostgreSQL: loading schedules, assigning units, reading the book in force.

    calendar_schedules   one row per load; the newest per (calendar, year) is in force
    unit_calendars       one row per assignment; the newest per unit is in force
    directory_versions   a unit's ``calendar:`` in the directory in force, for units never
                         assigned with `shouwen calendar assign` (an assignment overrides it)

A load never overwrites: a changed file for a year already loaded is a new row, and the
LoadResult names what it replaced. The same file again (same sha256) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import psycopg
from psycopg.types.json import Jsonb

from services.calendar.book import DEFAULT_CALENDAR, CalendarBook, build_book
from services.calendar.rules import Schedule
from services.calendar.schedule_file import ScheduleFile

_IN_FORCE = (
    "SELECT DISTINCT ON (calendar_id, year) load_id, calendar_id, year, country, holidays,"
    " make_up_days, loaded_by, loaded_at, sha256, source FROM calendar_schedules"
    " ORDER BY calendar_id, year, load_id DESC"
)
_UNITS = (
    "SELECT DISTINCT ON (unit_id) unit_id, calendar_id FROM unit_calendars"
    " ORDER BY unit_id, assignment_id DESC"
)


@dataclass(frozen=True)
class Loaded:
    """A schedule in force and who put it there."""

    schedule: Schedule
    load_id: int
    loaded_by: str
    loaded_at: datetime
    sha256: str
    source: str


@dataclass(frozen=True)
class LoadResult:
    loaded: Loaded | None  # the new load; None when identical to the one in force
    replaced: Loaded | None  # the load it replaced, if the year was already loaded


def in_force(conn: psycopg.Connection) -> list[Loaded]:
    rows = conn.execute(_IN_FORCE).fetchall()
    return [Loaded(Schedule(r[1], r[2], r[3], frozenset(r[4]), frozenset(r[5])),
                   r[0], r[6], r[7], r[8], r[9]) for r in rows]


def unit_calendars(conn: psycopg.Connection) -> dict[str, str]:
    """Assignments made with `shouwen calendar assign` (the newest per unit)."""
    return {r[0]: r[1] for r in conn.execute(_UNITS).fetchall()}


def units_in_directory(conn: psycopg.Connection) -> dict[str, str]:
    """Unit id -> the ``calendar:`` the directory in force gives it."""
    from services.directory.store import current

    loaded = current(conn)
    return {u.id: u.calendar for u in loaded[1].units} if loaded else {}


def load_book(conn: psycopg.Connection, default_id: str | None = None) -> CalendarBook:
    """The book in force: every calendar's schedules and which unit uses which."""
    if default_id is None:
        from services.calendar.settings import CalendarSettings

        default_id = CalendarSettings().default
    units = {**units_in_directory(conn), **unit_calendars(conn)}
    return build_book([x.schedule for x in in_force(conn)], units,
                      default_id or DEFAULT_CALENDAR)


def record_schedule(url: str, loaded: ScheduleFile, *, by: str, source: str) -> LoadResult:
    """Put ``loaded`` in force for its calendar and year, in one transaction."""
    s = loaded.schedule
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute("LOCK TABLE calendar_schedules IN EXCLUSIVE MODE")
        previous = next((x for x in in_force(conn) if (x.schedule.calendar_id, x.schedule.year)
                         == (s.calendar_id, s.year)), None)
        if previous is not None and previous.sha256 == loaded.sha256:
            return LoadResult(None, previous)
        row = conn.execute(
            "INSERT INTO calendar_schedules (calendar_id, year, country, holidays, make_up_days,"
            " document, loaded_by, source, sha256) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING load_id, loaded_at",
            (s.calendar_id, s.year, s.country, sorted(s.holidays), sorted(s.make_up_days),
             Jsonb(loaded.document), by, source[-500:], loaded.sha256)).fetchone()
        assert row is not None
        return LoadResult(Loaded(s, row[0], by, row[1], loaded.sha256, source[-500:]), previous)


def assign(url: str, unit_id: str, calendar_id: str, *, by: str) -> str | None:
    """Make ``unit_id`` use ``calendar_id``; returns the calendar it used before, if any."""
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute("LOCK TABLE unit_calendars IN EXCLUSIVE MODE")
        before = unit_calendars(conn).get(unit_id)
        if before != calendar_id:
            conn.execute("INSERT INTO unit_calendars (unit_id, calendar_id, assigned_by)"
                         " VALUES (%s, %s, %s)", (unit_id, calendar_id, by))
        return before


def version(conn: psycopg.Connection) -> tuple[int, int, int]:
    """Changes whenever a schedule, an assignment or a directory is loaded (cheap to poll)."""
    row = conn.execute("SELECT (SELECT coalesce(max(load_id), 0) FROM calendar_schedules),"
                       " (SELECT coalesce(max(assignment_id), 0) FROM unit_calendars),"
                       " (SELECT coalesce(max(version), 0) FROM directory_versions)").fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def load_packaged_if_empty(url: str, by: str = "system:shouwen-up") -> list[str]:
    """A new installation has no schedule: load the packaged official ones (the current
    national calendar) so deadlines are not provisional from the start. Never touches a
    database that has any schedule loaded."""
    from services.calendar.builtin import packaged_schedules
    from services.calendar.schedule_file import read_schedule

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT EXISTS (SELECT 1 FROM calendar_schedules)").fetchone()
        if row is None or row[0]:
            return []
    loaded = []
    for path in packaged_schedules():
        record_schedule(url, read_schedule(path), by=by, source=str(path))
        loaded.append(str(path))
    return loaded


def startup_notes(url: str, today: date | None = None) -> list[str]:
    """What `shouwen up` says about the calendars: packaged schedules loaded into an empty
    table, and every calendar whose this year or next year is not covered."""
    from services.calendar.builtin import today as civil_today

    notes = [f"no holiday schedule was loaded: loaded the official one ({path})"
             for path in load_packaged_if_empty(url)]
    with psycopg.connect(url) as conn:
        book = load_book(conn)
    notes += [f"calendar {cid}: no official schedule for {year}; deadlines there are "
              f"provisional until it is loaded (shouwen calendar load FILE)"
              for cid, year in book.uncovered(today or civil_today())]
    return notes
