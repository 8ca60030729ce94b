"""``shouwen calendar``: the official schedules in force and which unit uses which calendar.

    load FILE [--calendar ID] [--by STAFF]   validate and put a year's schedule in force
    assign UNIT CALENDAR [--by STAFF]        make a unit count its deadlines in CALENDAR
    show [--calendar ID] [--year Y]          years covered (warns about next year), or a
                                             year's days off and make-up working days

Bad input exits 2 with the line and reason, and writes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import psycopg
import typer

from services.calendar import store
from services.calendar.builtin import today
from services.calendar.rules import WorkingCalendar, country_of
from services.calendar.schedule_file import CALENDAR_ID, ScheduleFileError, read_schedule

calendar_app = typer.Typer(
    help="The working-day calendar: official holiday schedules and each unit's calendar.",
    no_args_is_help=True)
_BY = typer.Option("system:cli", "--by", help="Who makes the change: a staff id (A001) "
                   "or an actor (staff:A001, system:NAME).")


def _url() -> str:
    from services.common.settings import get_settings

    url = get_settings().database_url
    if not url:
        _refuse("DATABASE_URL is not set")
    return str(url)


def _refuse(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _actor(by: str) -> str:
    from events.envelope import ACTOR_RE

    actor = by if ":" in by else f"staff:{by}"
    if not ACTOR_RE.match(actor):
        _refuse(f"--by {by!r} must be a staff id (A001) or look like staff:<id> / system:<name>")
    return actor


@calendar_app.command("load")
def load(
    file: Path = typer.Argument(..., help="YAML: calendar, country, year, holidays, "
                                "make_up_working_days (see deploy/demo/calendar-CN-2026.yaml)."),
    calendar: str | None = typer.Option(None, "--calendar", help="Load it for this calendar "
                                        "(default: the file's 'calendar:')."),
    by: str = _BY,
) -> None:
    """Validate FILE and put it in force for its calendar and year. A bad file is refused
    with its line and reason; the schedule in force stays. Every load is recorded."""
    actor = _actor(by)
    if calendar is not None and not CALENDAR_ID.match(calendar):
        _refuse(f"--calendar {calendar!r} is not a calendar id (letters, digits, - _ .)")
    try:
        parsed = read_schedule(file, calendar)
    except ScheduleFileError as exc:
        _refuse(f"schedule refused, the one in force is unchanged\n{exc}")
        return
    s = parsed.schedule
    result = store.record_schedule(_url(), parsed, by=actor, source=str(file.resolve()))
    what = f"calendar {s.calendar_id} {s.year}"
    if result.loaded is None:
        typer.echo(f"{what}: unchanged (identical to the schedule in force)")
        return
    typer.echo(f"{what}: in force, {len(s.holidays)} day(s) off, {len(s.make_up_days)} "
               f"make-up working day(s); load {result.loaded.load_id} by {actor}")
    old = result.replaced
    if old is not None:
        gone = sorted(old.schedule.holidays - s.holidays)
        new = sorted(s.holidays - old.schedule.holidays)
        typer.echo(f"  replaces load {old.load_id} by {old.loaded_by} at {old.loaded_at:%F %T} "
                   f"(sha256 {old.sha256[:12]}): days off +{_days(new)} -{_days(gone)}")


@calendar_app.command("assign")
def assign(
    unit: str = typer.Argument(..., help="A unit id of the directory in force."),
    calendar: str = typer.Argument(..., help="A calendar id: one with a loaded schedule, "
                                   "or a country code (CN)."),
    by: str = _BY,
) -> None:
    """Make UNIT count its deadlines in CALENDAR (overrides the directory's 'calendar:')."""
    actor = _actor(by)
    if not CALENDAR_ID.match(calendar):
        _refuse(f"CALENDAR {calendar!r} is not a calendar id (letters, digits, - _ .)")
    url = _url()
    with psycopg.connect(url) as conn:
        units = store.units_in_directory(conn)
        known = {x.schedule.calendar_id for x in store.in_force(conn)}
    if unit not in units:
        _refuse(f"UNIT {unit!r} is not a unit of the directory in force")
    if calendar not in known and country_of(calendar) is None:
        _refuse(f"CALENDAR {calendar!r} has no loaded schedule and is not a country code the "
                "holidays library knows; load its schedule first (shouwen calendar load)")
    before = store.assign(url, unit, calendar, by=actor) or units[unit]
    typer.echo(f"unit {unit} uses calendar {calendar}"
               + (f" (was {before})" if before and before != calendar else ""))


@calendar_app.command("show")
def show(
    calendar: str | None = typer.Option(None, "--calendar", help="Only this calendar."),
    year: int | None = typer.Option(None, "--year", min=1949, max=2200,
                                    help="List this year's days off and make-up days."),
) -> None:
    """Which years each calendar's official schedule covers (warns when next year is not
    covered: deadlines there are provisional), and which unit uses which calendar."""
    with psycopg.connect(_url()) as conn:
        book = store.load_book(conn)
        loads = store.in_force(conn)
    if calendar is not None and book.calendar(calendar) is None:
        _refuse(f"--calendar {calendar!r}: no such calendar (known: {', '.join(book.calendars)})")
    chosen = [book.calendars[calendar]] if calendar else list(book.calendars.values())
    if year is not None:
        for cal in chosen:
            _show_year(cal, year)
        return
    this_year = today().year
    for cal in chosen:
        users = sorted(u for u, c in book.units.items() if c == cal.calendar_id)
        default = " (default)" if cal is book.default else ""
        typer.echo(f"calendar {cal.calendar_id}{default}: country {cal.country}; "
                   f"units: {', '.join(users) or '-'}")
        for x in (x for x in loads if x.schedule.calendar_id == cal.calendar_id):
            typer.echo(f"  {x.schedule.year}  official, loaded by {x.loaded_by} at "
                       f"{x.loaded_at:%F %T}, sha256 {x.sha256[:12]}")
        for y in (this_year, this_year + 1):
            if not cal.covers(y):
                typer.echo(f"  warning: {y} is not covered: deadlines in {y} are provisional "
                           f"(library rules); load the official {y} schedule", err=True)


def _show_year(cal: WorkingCalendar, year: int) -> None:
    kind = "official" if cal.covers(year) else "provisional (library rules, not official)"
    typer.echo(f"calendar {cal.calendar_id} {year}: {kind}")
    day, off, on = date(year, 1, 1), [], []
    while day.year == year:
        working, weekend = cal.is_working_day(day), day.weekday() >= 5
        if not working and not weekend:
            off.append(day)
        elif working and weekend:
            on.append(day)
        day += timedelta(days=1)
    typer.echo(f"  weekdays off:          {_days(off)}")
    typer.echo(f"  weekend working days:  {_days(on)}")


def _days(days: list[date]) -> str:
    return ", ".join(d.isoformat() for d in days) or "none"
