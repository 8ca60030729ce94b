"""Due dates by the official calendar, beside the Monday-to-Friday loop it replaced.

    stub       the old stand-in: n weekdays after a date, no holidays (re-coded here)
    calendar   WorkingCalendar.add_working_days: civil day of a UTC instant, the official
               2026 schedule / the library's rules for 2027, provisional flag, the end instant
    book       load_book from PostgreSQL (schedules in force + unit mapping) vs SELECT 1

Starts are spread over 2026-2027 and limits over 0-30 working days, as deadline-watch
computes them; a deadline service re-computes on every case event, so the goal is tens of
thousands a second. ``python -m bench.calendar_bench [--quick]`` runs it alone.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from bench.common import figure, fresh_database, postgres, print_table
from services.calendar import builtin_book
from services.calendar.builtin import packaged_schedules
from services.calendar.schedule_file import read_schedule
from services.calendar.store import load_book, record_schedule


def _stub(start: date, n: int) -> date:
    day = start
    while n > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def _rate(work: Any, items: list[tuple[datetime, int]]) -> float:
    started = time.perf_counter()
    for start, n in items:
        work(start, n)
    return len(items) / (time.perf_counter() - started)


def _per_second(call: Any, seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        call()
        count += 1
    return count / (time.perf_counter() - started)


def run(pg_url: str, quick: bool = False) -> list[dict[str, Any]]:
    rng = random.Random(7)
    n = 2_000 if quick else 50_000
    base = datetime(2026, 1, 1, tzinfo=UTC)
    items = [(base + timedelta(minutes=rng.randrange(2 * 365 * 24 * 60)), rng.randrange(31))
             for _ in range(n)]
    calendar = builtin_book().default
    calendar.add_working_days(base, 400)  # the year tables, built once per calendar
    stub = _rate(lambda s, k: _stub(s.date(), k), items)
    official = _rate(calendar.add_working_days, items)
    seconds = 0.3 if quick else 2.0
    with fresh_database(pg_url) as url:
        for path in packaged_schedules():
            record_schedule(url, read_schedule(path), by="system:bench", source=str(path))
        with psycopg.connect(url) as conn:
            load_book(conn)  # first use: settings, the library's country list
            book = _per_second(lambda: load_book(conn), seconds)
            ping = _per_second(lambda: conn.execute("SELECT 1").fetchone(), seconds)
    return [
        figure(f"add_working_days, official calendar ({n} due dates)", official, "due dates/s",
               baseline=stub, goal_min=20_000),
        figure("load_book from PostgreSQL (2 schedules)", book, "books/s", baseline=ping,
               goal_min=50),
    ]


if __name__ == "__main__":
    with postgres() as pg:
        print_table(run(pg, quick="--quick" in sys.argv))
