"""shouwen_calendar_year_covered{calendar,year}: 1 where an official schedule is loaded, 0
where deadlines are provisional; read from the book at each scrape."""

from __future__ import annotations

from datetime import date

from prometheus_client import CollectorRegistry

from services.calendar import CalendarBook, builtin_book
from services.calendar.book import build_book
from services.calendar.metrics import NAME, register_year_covered


def test_this_year_covered_and_next_year_not() -> None:
    registry = CollectorRegistry()
    book = build_book([s for s in builtin_book().default.schedules.values()],
                      {"XZ-GOV": "CN-XZ"})
    register_year_covered(registry, lambda: book, today=lambda: date(2026, 11, 26))
    value = registry.get_sample_value
    assert value(NAME, {"calendar": "CN", "year": "2026"}) == 1.0
    assert value(NAME, {"calendar": "CN", "year": "2027"}) == 0.0
    assert value(NAME, {"calendar": "CN-XZ", "year": "2026"}) == 0.0
    assert value(NAME, {"calendar": "CN", "year": "2025"}) is None  # only this year and next


def test_the_figure_follows_the_book_at_each_scrape() -> None:
    registry = CollectorRegistry()
    books: list[CalendarBook] = [build_book([])]
    register_year_covered(registry, lambda: books[-1], today=lambda: date(2026, 3, 1))
    assert registry.get_sample_value(NAME, {"calendar": "CN", "year": "2026"}) == 0.0
    books.append(builtin_book())
    assert registry.get_sample_value(NAME, {"calendar": "CN", "year": "2026"}) == 1.0
