"""Intake counts a case's due date in its unit's calendar, read from the database and cached."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

from services.calendar import store
from services.calendar.builtin import today
from services.calendar.cache import CalendarCache
from services.calendar.schedule_file import parse_schedule
from tests.integration.intake_helpers import ACCEPT, FIRST, post, register


def _days_off_from_tomorrow(calendar_id: str) -> tuple[str, date, date]:
    """A schedule whose holidays are the next ten civil days (within tomorrow's year)."""
    first = today() + timedelta(days=1)
    last = min(first + timedelta(days=9), date(first.year, 12, 31))
    text = (f"calendar: {calendar_id}\ncountry: CN\nyear: {first.year}\nholidays:\n"
            f"  - {{name: 局里放假 Unit closed, from: {first}, to: {last}}}\n")
    return text, first, last


def test_accept_counts_working_days_in_the_units_own_calendar(
        intake, token_for, database_url, tmp_path: Path) -> None:
    text, first, last = _days_off_from_tomorrow("CN-ZX")
    store.record_schedule(database_url, parse_schedule(text), by="system:test", source="test")
    store.assign(database_url, "ZWFWZX", "CN-ZX", by="system:test")
    with psycopg.connect(database_url) as conn:
        book = store.load_book(conn)
    own, national = book.for_unit("ZWFWZX"), book.for_unit("RSJ")
    now = datetime.now(UTC)
    expected = own.add_working_days(now, 3).day
    assert expected > last and expected != national.add_working_days(now, 3).day

    headers = token_for(FIRST)  # a window clerk of ZWFWZX, the case's unit
    case_id = register(intake, headers)["case_id"]
    r = post(intake, case_id, "accept", {**ACCEPT, "working_days": 3}, headers)
    assert r.status_code == 200, r.text
    assert r.json()["due_date"] == expected.isoformat()


def test_the_cache_rereads_the_book_when_a_schedule_or_assignment_changes(
        database_url, demo_directory) -> None:
    cache = CalendarCache(ttl=0.0)
    with psycopg.connect(database_url) as conn:
        first = cache.get(conn)
        assert first.for_unit("ZWFWZX").calendar_id == "CN"
        assert cache.get(conn) is first  # nothing changed: the same book, not rebuilt
    text, _, _ = _days_off_from_tomorrow("CN-ZX")
    store.record_schedule(database_url, parse_schedule(text), by="system:test", source="test")
    store.assign(database_url, "ZWFWZX", "CN-ZX", by="system:test")
    with psycopg.connect(database_url) as conn:
        again = cache.get(conn)
    assert again is not first and again.for_unit("ZWFWZX").calendar_id == "CN-ZX"


def test_a_kept_book_is_not_reread_within_its_ttl(database_url) -> None:
    cache = CalendarCache(ttl=3600.0)
    with psycopg.connect(database_url) as conn:
        first = cache.get(conn)
    store.assign(database_url, "ZWFWZX", "CN-ZX", by="system:test")
    with psycopg.connect(database_url) as conn:
        assert cache.get(conn) is first


def _accepted_time_limit(url: str, case_id: str) -> dict:
    from tests.integration.intake_helpers import events_of

    accepted = [e for e in events_of(url, case_id) if e["type"] == "accepted"]
    assert len(accepted) == 1
    limit: dict = accepted[0]["data"]["time_limit"]
    return limit


def test_a_due_date_in_a_year_no_official_schedule_covers_is_marked_provisional(
        intake, token_for, database_url) -> None:
    year = today().year
    only_this_year = (f"calendar: CN\ncountry: CN\nyear: {year}\nholidays:\n"
                      f"  - {{name: 元旦 New Year, from: {year}-01-01, to: {year}-01-01}}\n")
    store.record_schedule(database_url, parse_schedule(only_this_year), by="system:test",
                          source="test")
    headers = token_for(FIRST)
    plan = "核实后办理"
    near, far = register(intake, headers)["case_id"], register(intake, headers)["case_id"]

    for case_id, days in ((near, 1), (far, 366)):
        r = post(intake, case_id, "accept", {"working_days": days, "handling_plan": plan},
                 headers)
        assert r.status_code == 200, r.text

    soon, later = (_accepted_time_limit(database_url, c) for c in (near, far))
    assert date.fromisoformat(later["due_date"]).year > year and later["provisional"] is True
    assert soon["provisional"] is (date.fromisoformat(soon["due_date"]).year != year)
