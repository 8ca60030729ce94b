"""``shouwen_calendar_year_covered{calendar,year}``: 1 when an official schedule is loaded for
that calendar and year, 0 when deadlines there are only the library's guess (provisional).

For this year and next, read from the book at every scrape, so an alert such as
``shouwen_calendar_year_covered == 0`` tells operators to load the new year's schedule
(announced each November). Deadline-watch counts the provisional deadlines itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

import psycopg
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.calendar.book import CalendarBook
from services.calendar.builtin import today as civil_today
from services.calendar.cache import CalendarCache

NAME = "shouwen_calendar_year_covered"


class YearCovered(Collector):
    def __init__(self, book: Callable[[], CalendarBook],
                 today: Callable[[], date] = civil_today) -> None:
        self._book, self._today = book, today

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            NAME, "1 if an official schedule is loaded for the calendar and year, else 0 "
            "(deadlines there are provisional)", labels=["calendar", "year"])
        book, year = self._book(), self._today().year
        for calendar in book.calendars.values():
            for y in (year, year + 1):
                family.add_metric([calendar.calendar_id, str(y)], float(calendar.covers(y)))
        yield family


def register_year_covered(registry: CollectorRegistry, book: Callable[[], CalendarBook],
                          today: Callable[[], date] = civil_today) -> YearCovered:
    """Register the gauge in ``registry``; ``book`` is called at each scrape (e.g. a
    CalendarCache's getter), so the figure follows the schedules as they are loaded."""
    collector = YearCovered(book, today)
    registry.register(collector)
    return collector


def database_book(url: str, cache: CalendarCache | None = None) -> Callable[[], CalendarBook]:
    """A ``book`` for register_year_covered that reads PostgreSQL through a CalendarCache;
    while the database does not answer, the last book read is reported."""
    kept = cache or CalendarCache()
    last: list[CalendarBook] = []

    def book() -> CalendarBook:
        try:
            with psycopg.connect(url, connect_timeout=5) as conn:
                last[:] = [kept.get(conn)]
        except psycopg.OperationalError:
            if not last:
                raise
        return last[0]

    return book
