"""The book in force, kept by a long-running service and re-read when it may have changed.

    fresh()     the cached book if checked within ``ttl`` seconds, else None (no I/O)
    get(conn)   the cached book if checked within ``ttl`` seconds; else poll the three
                tables' newest ids (one cheap query) and rebuild only if they moved
"""

from __future__ import annotations

import threading
import time

import psycopg

from services.calendar import store
from services.calendar.book import CalendarBook


class CalendarCache:
    def __init__(self, ttl: float | None = None, default_id: str | None = None) -> None:
        if ttl is None:
            from services.calendar.settings import CalendarSettings

            ttl = CalendarSettings().refresh_seconds
        self.ttl, self.default_id = ttl, default_id
        self._book: CalendarBook | None = None
        self._version: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def fresh(self) -> CalendarBook | None:
        """The cached book if checked within ``ttl`` seconds, else None (then ``get``):
        no I/O, for an event loop."""
        book = self._book
        if book is not None and time.monotonic() - self._checked <= self.ttl:
            return book
        return None

    def get(self, conn: psycopg.Connection) -> CalendarBook:
        book = self._book
        if book is not None and time.monotonic() - self._checked <= self.ttl:
            return book
        with self._lock:
            if self._book is None or time.monotonic() - self._checked > self.ttl:
                latest = store.version(conn)
                if self._book is None or latest != self._version:
                    self._book = store.load_book(conn, self.default_id)
                    self._version = latest
                self._checked = time.monotonic()
            return self._book
