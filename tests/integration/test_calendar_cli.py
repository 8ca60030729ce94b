"""`shouwen calendar load | assign | show` as an operator runs them, on a real PostgreSQL.

A load is a new row (who, when, sha256), never an overwrite; the newest per calendar and year
is in force. A bad file exits 2 naming the line and reason, and writes nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from services.calendar.cache import CalendarCache
from services.calendar.metrics import NAME, database_book, register_year_covered
from services.calendar.store import load_book, load_packaged_if_empty, startup_notes
from services.cli import app
from services.common.settings import get_settings

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo"
CN_2026 = DEMO / "calendar-CN-2026.yaml"
SHOUWEN = Path(sys.executable).parent / "shouwen"


@pytest.fixture
def shouwen(database_url: str, monkeypatch: pytest.MonkeyPatch):
    """Run the CLI in-process against this test's database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, ["calendar", *args])

    yield run
    get_settings.cache_clear()


def loads(url: str) -> list[tuple[str, int, str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT calendar_id, year, loaded_by, sha256 FROM calendar_schedules"
                            " ORDER BY load_id").fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def book(url: str):
    with psycopg.connect(url) as conn:
        return load_book(conn)


def test_load_puts_the_2026_schedule_in_force_and_records_who(shouwen, database_url) -> None:
    assert not book(database_url).default.covers(2026)
    r = shouwen("load", str(CN_2026), "--by", "A001")
    assert r.exit_code == 0, r.output
    assert "calendar CN 2026: in force, 33 day(s) off, 6 make-up" in r.output
    [(cid, year, by, sha)] = loads(database_url)
    assert (cid, year, by, len(sha)) == ("CN", 2026, "staff:A001", 64)
    cn = book(database_url).default
    assert cn.covers(2026)
    due = cn.add_working_days(datetime(2026, 9, 30, 2, tzinfo=UTC), 3)
    assert (due.day, due.provisional) == (date(2026, 10, 10), False)

    again = shouwen("load", str(CN_2026))
    assert again.exit_code == 0 and "unchanged" in again.output
    assert len(loads(database_url)) == 1


def test_a_changed_schedule_is_a_new_load_naming_what_it_replaced(
        shouwen, database_url, tmp_path: Path) -> None:
    assert shouwen("load", str(CN_2026), "--by", "staff:A001").exit_code == 0
    changed = tmp_path / "cn-2026-fixed.yaml"
    changed.write_text(CN_2026.read_text(encoding="utf-8").replace(
        "from: 2026-10-01, to: 2026-10-07", "from: 2026-10-01, to: 2026-10-08"), encoding="utf-8")
    r = shouwen("load", str(changed), "--by", "A002")
    assert r.exit_code == 0, r.output
    assert "replaces load" in r.output and "by staff:A001" in r.output
    assert "days off +2026-10-08 -none" in r.output
    assert [x[2] for x in loads(database_url)] == ["staff:A001", "staff:A002"]  # both kept
    assert not book(database_url).default.is_working_day(date(2026, 10, 8))


def test_a_bad_file_exits_2_naming_the_line_and_keeps_the_old_schedule(
        shouwen, database_url, tmp_path: Path) -> None:
    assert shouwen("load", str(CN_2026)).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(CN_2026.read_text(encoding="utf-8").replace(
        "{date: 2026-10-10,", "{date: 2026-10-12,"), encoding="utf-8")
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "2026-10-12" in t)
    env = {**os.environ, "DATABASE_URL": database_url}
    r = subprocess.run([str(SHOUWEN), "calendar", "load", str(bad)], env=env,
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2
    assert f"bad.yaml:{line}: make_up_working_days.5.date: 2026-10-12 is a Monday" in r.stderr
    assert "the one in force is unchanged" in r.stderr
    assert len(loads(database_url)) == 1
    assert book(database_url).default.is_working_day(date(2026, 10, 10))


@pytest.mark.parametrize("args", [["--by", "not an actor"], ["--calendar", "bad id!"]])
def test_bad_options_exit_2_and_write_nothing(shouwen, database_url, args) -> None:
    r = shouwen("load", str(CN_2026), *args)
    assert r.exit_code == 2 and "error:" in r.output
    assert loads(database_url) == []


def test_assign_gives_a_unit_its_own_calendar(
        shouwen, database_url, demo_directory, tmp_path: Path) -> None:
    own = tmp_path / "rsj.yaml"
    own.write_text("country: CN\nyear: 2026\nholidays:\n"
                   "  - {name: 局庆 Bureau day, date: 2026-09-07}\n", encoding="utf-8")
    assert shouwen("load", str(own), "--calendar", "CN-RSJ").exit_code == 0
    r = shouwen("assign", "RSJ", "CN-RSJ", "--by", "A001")
    assert r.exit_code == 0 and "unit RSJ uses calendar CN-RSJ (was CN)" in r.output, r.output
    b = book(database_url)
    assert b.for_unit("RSJ").calendar_id == "CN-RSJ" and b.for_unit("SWJ").calendar_id == "CN"
    assert not b.for_unit("RSJ").is_working_day(date(2026, 9, 7))
    assert b.for_unit("SWJ").is_working_day(date(2026, 9, 7))
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT unit_id, calendar_id, assigned_by FROM unit_calendars").fetchone()
    assert row == ("RSJ", "CN-RSJ", "staff:A001")


@pytest.mark.parametrize(("unit", "calendar", "reason"), [
    ("NOSUCH", "CN", "not a unit of the directory in force"),
    ("RSJ", "MOON-1", "has no loaded schedule"),
    ("RSJ", "bad id!", "is not a calendar id"),
])
def test_assign_refuses_unknown_units_and_calendars(
        shouwen, database_url, demo_directory, unit, calendar, reason) -> None:
    r = shouwen("assign", unit, calendar)
    assert r.exit_code == 2 and reason in r.output, r.output
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM unit_calendars").fetchone() == (0,)


def test_show_lists_covered_years_and_warns_about_next_year(shouwen, database_url) -> None:
    assert shouwen("load", str(CN_2026), "--by", "A001").exit_code == 0
    r = shouwen("show")
    assert r.exit_code == 0, r.output
    assert "calendar CN (default): country CN" in r.output
    assert "2026  official, loaded by staff:A001" in r.output
    this_year = datetime.now(UTC).year
    if this_year == 2026:
        assert "warning: 2027 is not covered: deadlines in 2027 are provisional" in r.output
    year = shouwen("show", "--year", "2026")
    assert "calendar CN 2026: official" in year.output
    assert "2026-10-05, 2026-10-06, 2026-10-07" in year.output
    assert "weekend working days:  2026-01-04, 2026-02-14, 2026-02-28, 2026-05-09, " \
           "2026-09-20, 2026-10-10" in year.output
    future = shouwen("show", "--year", "2031")
    assert "calendar CN 2031: provisional (library rules, not official)" in future.output
    assert shouwen("show", "--calendar", "NOPE").exit_code == 2


def test_make_up_loads_the_packaged_schedules_only_into_an_empty_table(database_url) -> None:
    loaded = load_packaged_if_empty(database_url)
    assert [Path(p).name for p in loaded] == ["calendar-CN-2025.yaml", "calendar-CN-2026.yaml"]
    assert [(c, y, by) for c, y, by, _ in loads(database_url)] == [
        ("CN", 2025, "system:shouwen-up"), ("CN", 2026, "system:shouwen-up")]
    assert load_packaged_if_empty(database_url) == []
    assert len(loads(database_url)) == 2


def test_up_notes_say_what_was_loaded_and_which_years_are_provisional(database_url) -> None:
    notes = startup_notes(database_url, today=date(2026, 11, 26))
    assert notes[0].startswith("no holiday schedule was loaded: loaded the official one")
    assert notes[-1] == ("calendar CN: no official schedule for 2027; deadlines there are "
                         "provisional until it is loaded (shouwen calendar load FILE)")
    assert startup_notes(database_url, today=date(2026, 3, 1)) == [
        "calendar CN: no official schedule for 2027; deadlines there are provisional until "
        "it is loaded (shouwen calendar load FILE)"]


def test_the_coverage_metric_reads_the_database(database_url) -> None:
    registry = CollectorRegistry()
    register_year_covered(registry, database_book(database_url, CalendarCache(ttl=0.0)),
                          today=lambda: date(2026, 11, 26))
    labels = {"calendar": "CN", "year": "2026"}
    assert registry.get_sample_value(NAME, labels) == 0.0
    load_packaged_if_empty(database_url)
    assert registry.get_sample_value(NAME, labels) == 1.0
    assert registry.get_sample_value(NAME, {"calendar": "CN", "year": "2027"}) == 0.0
