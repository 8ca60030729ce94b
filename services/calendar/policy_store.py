"""The time-limit policy book in force (``deadline_policies``, migration 0007; append-only,
the newest row is in force). This package owns the table: deadline-watch plans every case's
clocks by it, and an accountability procedure's due dates come from the same unit policy.

    policy_book(conn)                      the book in force (the presets when none is loaded)
    save_policy(conn, book, by, source)    put a book in force; its load id
"""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb

from services.calendar.policy import PolicyBook


def policy_book(conn: psycopg.Connection) -> PolicyBook:
    row = conn.execute(
        "SELECT book FROM deadline_policies ORDER BY load_id DESC LIMIT 1").fetchone()
    return PolicyBook.model_validate(row[0]) if row else PolicyBook()


def save_policy(conn: psycopg.Connection, book: PolicyBook, by: str, source: str) -> int:
    row = conn.execute(
        "INSERT INTO deadline_policies (book, loaded_by, source) VALUES (%s, %s, %s)"
        " RETURNING load_id", (Jsonb(book.model_dump(mode="json")), by, source)).fetchone()
    assert row is not None
    return int(row[0])
