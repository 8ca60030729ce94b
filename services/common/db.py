"""PostgreSQL connections (psycopg 3) and the migration runner.

Migrations are the numbered SQL files in ``migrations/``; each is applied once, in order,
inside a transaction, and recorded in ``schema_migrations``. Re-running is safe. An
advisory lock keeps two services starting at once from racing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import resources
from typing import TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from services.common.backoff import TRANSIENT_DB, Backoff

T = TypeVar("T")
_MIGRATION_LOCK = 0x5E0_0001


def connect(url: str, **kwargs: object) -> psycopg.Connection:
    return psycopg.connect(url, **kwargs)  # type: ignore[arg-type]


def pool(url: str, min_size: int = 1, max_size: int = 10) -> ConnectionPool:
    return ConnectionPool(url, min_size=min_size, max_size=max_size, open=True)


def wait_for(url: str, timeout: float = 30.0) -> None:
    """Block until the database answers (the pre-start step of every service)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def migration_files() -> list[tuple[str, str]]:
    root = resources.files("services.common").joinpath("migrations")
    files = sorted((p for p in root.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name, p.read_text(encoding="utf-8")) for p in files]


def pending_migrations(conn: psycopg.Connection) -> list[str]:
    """The migrations this code ships that the database has not applied yet (every one of
    them before the first ``migrate``): what /readyz and ``migrate --wait`` look at."""
    found = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    done = ({r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            if found and found[0] else set())
    return [name for name in _migration_names() if name not in done]


def _migration_names() -> list[str]:
    root = resources.files("services.common").joinpath("migrations")
    return sorted(p.name for p in root.iterdir() if p.name.endswith(".sql"))


def wait_migrated(url: str, timeout: float, poll: float = 1.0) -> list[str]:
    """Wait until every migration this code ships is applied (by ``shouwen migrate``, the
    Job); return what is still pending at ``timeout`` ([] once the schema is current)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2, autocommit=True) as conn:
                pending = pending_migrations(conn)
        except psycopg.OperationalError:
            pending = ["(the database does not answer)"]
        if not pending or time.monotonic() >= deadline:
            return pending
        time.sleep(poll)


def migrate(url: str) -> list[str]:
    """Apply pending migrations; return the names applied now."""
    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            for name, sql in migration_files():
                if name in done:
                    continue
                with conn.transaction():
                    conn.execute(sql.encode())
                    conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
                applied.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    return applied


def retrying(fn: Callable[[], T], attempts: int = 5, delay: float = 0.2) -> T:
    """Retry on connection loss (OperationalError / InterfaceError), a bounded number of times
    (the delays of the common Backoff from ``delay``)."""
    backoff = Backoff(first_delay=delay)
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except TRANSIENT_DB:
            if attempt == attempts:
                raise
            time.sleep(backoff.delay(attempt))
    raise AssertionError("unreachable")
