"""Pods wait for the schema their image ships: /readyz says 503 while a migration this code
ships is not applied, and `shouwen migrate --wait` (the Deployments' init step) returns only
once the migration Job has applied them all."""

from __future__ import annotations

import threading

import psycopg
from typer.testing import CliRunner

from services.cli import app
from services.common.db import migration_files, pending_migrations

LAST = migration_files()[-1][0]


def forget_last(url: str) -> None:
    """As if this image shipped one migration more than the database has."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE name = %s", (LAST,))


def test_readyz_is_503_until_every_shipped_migration_is_applied(intake, database_url):
    ready = intake.get("/readyz")
    assert ready.status_code == 200 and ready.json()["schema"] == "current"
    forget_last(database_url)
    behind = intake.get("/readyz")
    assert behind.status_code == 503
    assert behind.json()["schema"] == "1 migration(s) pending"
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert pending_migrations(conn) == [LAST]
        conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (LAST,))
    assert intake.get("/readyz").status_code == 200


def test_migrate_wait_applies_nothing_and_returns_once_the_job_has_run(database_url,
                                                                         monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    forget_last(database_url)
    gave_up = CliRunner().invoke(app, ["migrate", "--wait", "--timeout", "0.5"])
    assert gave_up.exit_code == 1 and LAST in gave_up.output
    with psycopg.connect(database_url) as conn:
        assert pending_migrations(conn) == [LAST]  # --wait applied nothing

    def the_job_applies_it() -> None:  # what `shouwen migrate` records once the SQL ran
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (LAST,))

    job = threading.Timer(0.5, the_job_applies_it)
    job.start()
    try:
        waited = CliRunner().invoke(app, ["migrate", "--wait", "--timeout", "60"])
    finally:
        job.join()
    assert waited.exit_code == 0, waited.output
    assert "schema current" in waited.output
