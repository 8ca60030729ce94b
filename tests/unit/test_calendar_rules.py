"""The working-day rules: weekends, holidays, make-up days (调休), the official 2026 National
Day schedule, provisional deadlines in years no schedule covers, calendar days, per unit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.calendar import CIVIL_TIME, Schedule, WorkingCalendar, builtin_book
from services.calendar.book import build_book


def civil(y: int, m: int, d: int, hour: int = 10) -> datetime:
    return datetime(y, m, d, hour, tzinfo=CIVIL_TIME)


@pytest.fixture(scope="module")
def cn() -> WorkingCalendar:
    return builtin_book().default


def test_an_ordinary_week_works_monday_to_friday(cn: WorkingCalendar) -> None:
    week = [cn.is_working_day(date(2026, 3, d)) for d in range(9, 16)]  # Mon 9 .. Sun 15
    assert week == [True, True, True, True, True, False, False]


def test_national_day_2026_is_off_and_its_make_up_weekend_days_are_worked(
        cn: WorkingCalendar) -> None:
    assert not any(cn.is_working_day(date(2026, 10, d)) for d in range(1, 8))
    assert cn.is_working_day(date(2026, 9, 20))  # a Sunday, worked for National Day
    assert cn.is_working_day(date(2026, 10, 10))  # a Saturday, worked for National Day
    assert not cn.is_working_day(date(2026, 10, 11))
    assert not cn.is_working_day(date(2026, 9, 25))  # Mid-autumn Festival, a Friday


def test_three_working_days_from_30_september_2026_land_on_the_make_up_saturday(
        cn: WorkingCalendar) -> None:
    due = cn.add_working_days(civil(2026, 9, 30), 3)  # Oct 8, Oct 9, Sat Oct 10
    assert due.day == date(2026, 10, 10) and not due.provisional
    assert due.at == datetime(2026, 10, 10, 16, 0, tzinfo=UTC)  # 24:00 in Beijing
    assert cn.add_working_days(civil(2026, 9, 30), 1).day == date(2026, 10, 8)
    assert cn.add_working_days(civil(2026, 9, 30), 4).day == date(2026, 10, 12)


def test_counting_starts_the_civil_day_after_start_in_civil_time(cn: WorkingCalendar) -> None:
    late = datetime(2026, 9, 30, 17, 30, tzinfo=UTC)  # already 1 October 01:30 in Beijing
    assert cn.add_working_days(late, 1).day == date(2026, 10, 8)
    same_day = cn.add_working_days(civil(2026, 10, 3), 0)
    assert same_day.day == date(2026, 10, 3)
    assert same_day.at == datetime(2026, 10, 3, 16, 0, tzinfo=UTC)


def test_a_deadline_in_a_year_no_schedule_covers_is_provisional(cn: WorkingCalendar) -> None:
    assert cn.covers(2026) and not cn.covers(2031)
    due = cn.add_working_days(civil(2030, 12, 30), 3)
    assert due.provisional and due.day == date(2031, 1, 3)  # 1 January 2031 off by rule
    crossing = cn.add_working_days(civil(2026, 12, 28), 5)  # runs into uncovered 2027
    assert crossing.provisional and crossing.day == date(2027, 1, 5)
    inside = cn.add_working_days(civil(2026, 12, 1), 5)
    assert not inside.provisional


def test_library_rules_fill_uncovered_years(cn: WorkingCalendar) -> None:
    assert not cn.is_working_day(date(2031, 10, 1))  # National Day by the holidays library
    assert not cn.is_working_day(date(2031, 1, 23))  # Spring Festival
    assert cn.is_working_day(date(2031, 10, 8))


def test_a_loaded_schedule_overrides_the_library_for_its_year() -> None:
    official = Schedule("CN", 2031, "CN", frozenset({date(2031, 10, d) for d in range(1, 8)}),
                        frozenset({date(2031, 9, 28)}))
    cal = WorkingCalendar("CN", "CN", [official])
    assert cal.covers(2031)
    assert cal.is_working_day(date(2031, 9, 28))  # a Sunday, worked
    assert not cal.is_working_day(date(2031, 10, 6))  # a Monday the library thought worked
    assert not cal.add_working_days(civil(2031, 9, 30), 2).provisional
    assert cal.add_working_days(civil(2031, 9, 30), 2).day == date(2031, 10, 9)


def test_calendar_days_ignore_holidays_and_are_never_provisional(cn: WorkingCalendar) -> None:
    due = cn.add_calendar_days(civil(2026, 9, 30), 15)
    assert (due.day, due.provisional) == (date(2026, 10, 15), False)
    assert due.at == datetime(2026, 10, 15, 16, 0, tzinfo=UTC)
    assert cn.add_calendar_days(civil(2031, 1, 1), 30).day == date(2031, 1, 31)


def test_working_days_between_counts_after_start_up_to_end(cn: WorkingCalendar) -> None:
    assert cn.working_days_between(civil(2026, 9, 30), civil(2026, 10, 12)) == 4
    assert cn.working_days_between(civil(2026, 10, 1), civil(2026, 10, 7)) == 0
    assert cn.working_days_between(civil(2026, 10, 12), civil(2026, 10, 8)) == 0


def test_bad_arguments_are_refused(cn: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cn.add_working_days(datetime(2026, 9, 30, 10), 1)  # noqa: DTZ001 - naive on purpose
    with pytest.raises(ValueError, match=">= 0"):
        cn.add_working_days(civil(2026, 9, 30), -1)
    with pytest.raises(ValueError, match=">= 0"):
        cn.add_calendar_days(civil(2026, 9, 30), -1)


def test_each_unit_counts_in_its_own_calendar() -> None:
    local = Schedule("CN-XZ", 2026, "CN", frozenset({date(2026, 9, d) for d in (7, 8, 9)}),
                     frozenset())
    book = build_book([local], {"XZ-GOV": "CN-XZ"}, default_id="CN")
    assert book.for_unit("XZ-GOV").calendar_id == "CN-XZ"
    assert book.for_unit("RSJ").calendar_id == "CN" and book.for_unit(None) is book.default
    start = civil(2026, 9, 4)  # a Friday
    assert book.for_unit("XZ-GOV").add_working_days(start, 1).day == date(2026, 9, 10)
    assert book.for_unit("RSJ").add_working_days(start, 1).day == date(2026, 9, 7)
    assert ("CN-XZ", 2027) in book.uncovered(date(2026, 11, 26))
    assert ("CN-XZ", 2026) not in book.uncovered(date(2026, 11, 26))


def test_a_unit_calendar_with_no_schedule_uses_its_country_rules() -> None:
    book = build_book([], {"HK-OFFICE": "HK"}, default_id="CN")
    hk = book.for_unit("HK-OFFICE")
    assert (hk.calendar_id, hk.country) == ("HK", "HK")
    assert not hk.is_working_day(date(2026, 12, 25))  # Christmas in Hong Kong
    assert book.default.is_working_day(date(2026, 12, 25))


def _count_day_by_day(cal: WorkingCalendar, start: datetime, days: int) -> tuple[date, bool]:
    """The plain definition, one civil day at a time, to check the bisecting version by."""
    day = cal.civil_day(start)
    provisional = not cal.covers(day.year)
    while days:
        day += timedelta(days=1)
        provisional = provisional or not cal.covers(day.year)
        days -= cal.is_working_day(day)
    return day, provisional


@settings(max_examples=300, deadline=None)
@given(start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2031, 12, 31),
                          timezones=st.just(UTC)),
       days=st.integers(min_value=0, max_value=400))
def test_counting_matches_the_day_by_day_definition(start: datetime, days: int) -> None:
    cal = builtin_book().default
    due = cal.add_working_days(start, days)
    assert (due.day, due.provisional) == _count_day_by_day(cal, start, days)
    end = datetime.combine(due.day, datetime.min.time(), CIVIL_TIME)
    assert cal.working_days_between(start, end) == days
