"""Poison isolation in deadline-watch's timer loop: one case whose timers cannot be
re-planned (an extension granted to 9999-12-31 slipped past intake before it was bounded:
the calendar overflows) is set aside as `failed`, and every other case's timers fire on time
in the same tick. Admins see it (`shouwen deadline-watch failed`), the metric counts it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from events.case import CaseAccepted, ExtensionGranted, TimeLimit
from events.fields import LeaderRef, LeaderRole
from events.registry import EventPayload
from services.calendar.store import load_packaged_if_empty
from services.cli import app
from services.common.settings import get_settings
from services.deadline_watch.metrics import deadline_metrics
from services.deadline_watch.service import build
from services.deadline_watch.watch import DeadlineWatch
from tests.integration.deadline_helpers import HANDLER, Clock, civil, received, stored


@pytest.fixture
def clock() -> Clock:
    return Clock(civil(2026, 9, 28))


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def watch(database_url, demo_directory, clock, registry) -> Iterator[DeadlineWatch]:
    load_packaged_if_empty(database_url)
    w, pool = build(database_url, now=clock)
    w.metrics = deadline_metrics(registry)
    with pool:
        yield w


def store(w: DeadlineWatch, case_id: str, at: datetime, payload: EventPayload,
          consume: bool = True) -> None:
    event = stored(w, case_id, at, payload)
    if consume:
        with w.repo.pool.connection() as conn, conn.transaction():
            w.handle(conn, event)


def receive(w: DeadlineWatch, case_id: str, at: datetime) -> None:
    store(w, case_id, at, received(case_id))


def kinds_written(w: DeadlineWatch, case_id: str) -> list[str]:
    return [r.event.type.split(".")[2] for r in w.repo.store.read_stream(case_id)
            if r.event.actor == "service:deadline-watch"]


def test_a_poisoned_case_is_set_aside_and_every_other_timer_fires_on_time(
        watch, clock, registry, database_url, monkeypatch):
    for case_id in ("C-P1", "C-P2", "C-P3"):
        receive(watch, case_id, civil(2026, 9, 28))
    store(watch, "C-P2", civil(2026, 9, 28, 11), CaseAccepted(handler=HANDLER, time_limit=TimeLimit(
        working_days=2, due_date=date(2026, 9, 30))))
    # The poison: granted to the year 9999, stored (not consumed: the consumer dead-letters it).
    store(watch, "C-P2", civil(2026, 9, 29), ExtensionGranted(
        approver=LeaderRef(id="ZX002", role=LeaderRole.supervising_leader),
        new_due_date=date(9999, 12, 31), reason="无限期"), consume=False)

    clock.at = civil(2026, 10, 1, 0, 5)  # the warnings and breaches of all three are due
    settled = watch.tick()
    for case_id in ("C-P1", "C-P3"):
        assert kinds_written(watch, case_id).count("deadline_breached") == 1
        assert kinds_written(watch, case_id).count("deadline_warned") == 1
    assert "deadline_breached" not in kinds_written(watch, "C-P2")
    with watch.repo.pool.connection() as conn:
        rows = conn.execute("SELECT kind, state, failure FROM deadline_timers"
                            " WHERE case_id = 'C-P2' AND state = 'failed' ORDER BY kind"
                            ).fetchall()
    assert {k for k, _, _ in rows} >= {"breach"} and all("Error" in w for _, _, w in rows)
    assert registry.get_sample_value("shouwen_deadline_timers_failed_total") == len(rows)
    assert settled == 4 + len(rows)  # C-P1 and C-P3: warning + breach each

    assert watch.tick() == 0  # set aside: the next tick does not claim them again
    # later timers of the healthy cases still fire (the ladder's first step)
    clock.at = civil(2026, 10, 9, 0, 5)
    assert watch.tick() >= 2
    for case_id in ("C-P1", "C-P3"):
        assert "escalated" in kinds_written(watch, case_id)

    with watch.repo.pool.connection() as conn:
        rows = conn.execute("SELECT kind FROM deadline_timers WHERE state = 'failed'").fetchall()
    assert len(rows) == registry.get_sample_value("shouwen_deadline_timers_failed_total")
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        listed = runner.invoke(app, ["deadline-watch", "failed"])
        assert listed.exit_code == 0, listed.output
        assert listed.output.count("C-P2\t") == len(rows) and "C-P1" not in listed.output
        retried = runner.invoke(app, ["deadline-watch", "failed", "--retry", "--case", "C-P2"])
        assert retried.exit_code == 0
        assert f"{len(rows)} failed timer(s) back to pending" in retried.output
    finally:
        get_settings.cache_clear()
    assert watch.tick() == len(rows)  # tried again, still poisoned: set aside again
