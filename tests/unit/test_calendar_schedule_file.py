"""The official schedule file: the packaged ones agree with chinesecalendar day by day, and
a bad file is refused with the line and the reason."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest

from services.calendar import WorkingCalendar
from services.calendar.builtin import packaged_schedules
from services.calendar.schedule_file import ScheduleFileError, parse_schedule, read_schedule

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo"

GOOD = """\
calendar: CN
year: 2026
holidays:
  - {name: 国庆节, from: 2026-10-01, to: 2026-10-07}
make_up_working_days:
  - {date: 2026-10-10, for: 国庆节}
"""


def test_the_2026_and_2025_files_are_packaged() -> None:
    names = [p.name for p in packaged_schedules()]
    assert names == ["calendar-CN-2025.yaml", "calendar-CN-2026.yaml"]


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_packaged_schedule_agrees_with_chinesecalendar_every_day(year: int) -> None:
    loaded = read_schedule(DEMO / f"calendar-CN-{year}.yaml")
    assert (loaded.schedule.calendar_id, loaded.schedule.year) == ("CN", year)
    cal = WorkingCalendar("CN", "CN", [loaded.schedule])
    day = date(year, 1, 1)
    while day.year == year:
        assert cal.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


def test_the_2026_file_names_its_national_day_break() -> None:
    loaded = read_schedule(DEMO / "calendar-CN-2026.yaml")
    assert {date(2026, 10, d) for d in range(1, 8)} <= loaded.schedule.holidays
    assert loaded.schedule.make_up_days == {date(2026, 1, 4), date(2026, 2, 14),
                                            date(2026, 2, 28), date(2026, 5, 9),
                                            date(2026, 9, 20), date(2026, 10, 10)}
    assert loaded.document["holidays"][-1] == {"name": "国庆节 National Day",
                                               "from": "2026-10-01", "to": "2026-10-07"}
    assert len(loaded.sha256) == 64


def test_a_good_file_parses_and_the_calendar_option_names_it() -> None:
    parsed = parse_schedule(GOOD, calendar_id="CN-XZ")
    assert parsed.schedule.calendar_id == "CN-XZ" and parsed.schedule.country == "CN"
    assert len(parsed.schedule.holidays) == 7


@pytest.mark.parametrize(("text", "line", "reason"), [
    (GOOD.replace("2026-10-07", "2027-10-07"), 4, "holidays.0.to: 2027-10-07 is not in 2026"),
    (GOOD.replace("2026-10-10", "2026-10-12"), 6, "2026-10-12 is a Monday, already a working"),
    (GOOD.replace("2026-10-10", "2026-10-04"), 6, "listed twice (or also as a holiday)"),
    (GOOD.replace("2026-10-01", "2026-02-30"), 4, "'2026-02-30' is not a date"),
    (GOOD.replace("year: 2026", "year: next"), 2, "year: 'next' must be a year"),
    (GOOD.replace("calendar: CN", "calendar: CN\nseason: autumn"), 2, "season: unknown key"),
    (GOOD.replace("calendar: CN", "calendar: CN\ncountry: XX"), 2, "country: 'XX' is not"),
    (GOOD.replace("calendar: CN", "calendar: 'no spaces'"), 1, "calendar: 'no spaces' is not"),
    (GOOD.replace("name: 国庆节, ", ""), 4, "holidays.0.name: required"),
    (GOOD + "  - {date: 2026-10-10}\n", 7, "listed twice"),
    (GOOD.replace("from: 2026-10-01", "from: 2026-01-01"), 4, "is not a break of 1 to 31"),
    ("calendar: CN\nyear: 2026\n", 1, "holidays: required"),
    ("calendar: CN\nyear: 2026\nholidays: [\n", 4, "not valid YAML"),
    ("- just\n- a list\n", 1, "(top): must be a mapping"),
])
def test_a_bad_file_is_refused_with_its_line_and_reason(text: str, line: int,
                                                         reason: str) -> None:
    with pytest.raises(ScheduleFileError) as caught:
        parse_schedule(text, "x.yaml")
    assert any(n == line and reason in why for n, why in caught.value.problems), \
        caught.value.problems
    assert f"x.yaml:{line}:" in str(caught.value)


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "latin1.yaml").write_bytes(b"calendar: \xe9\n")
    with pytest.raises(ScheduleFileError, match="cannot read the file"):
        read_schedule(tmp_path / "latin1.yaml")
    with pytest.raises(ScheduleFileError, match="cannot read the file"):
        read_schedule(tmp_path / "missing.yaml")
