"""A connection the server dropped, and intake's pools (services/common/outage.pool_options).

A connection taken from the pool is checked (a round trip) only when it came back to the pool
more than CHECK_IDLE seconds ago: one idle that long, dropped meanwhile (a restart, an
idle timeout, an administrator's pg_terminate_backend), is replaced before a request gets
it. One that came back within CHECK_IDLE is handed out unchecked: if the server dropped it in
that moment, that request is answered 503 with Retry-After (never a 500, nothing written) and
the broken connection is discarded, so the next request is served. Over HTTP, real
PostgreSQL: the staff actions' async pool and the sync pool both.
"""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.common import outage
from tests.integration.intake_helpers import ACCEPT, FIRST, REPLY, event_count, post, register


def drop_intakes_connections(url: str) -> int:
    """Every other connection to the test's database, ended by the server (as a restart
    would end them)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'").fetchall()
    return len(rows)


def test_a_dropped_connection_idle_past_check_idle_is_replaced_unseen(
        intake: TestClient, token_for, database_url, monkeypatch: pytest.MonkeyPatch) -> None:
    staff = token_for(FIRST)
    case_id = register(intake, staff)["case_id"]
    assert post(intake, case_id, "accept", ACCEPT, staff).status_code == 200
    assert drop_intakes_connections(database_url) >= 2  # both pools' connections
    monkeypatch.setattr(outage, "CHECK_IDLE", 0.0)  # every connection counts as idle

    r = post(intake, case_id, "reply", REPLY, staff)  # the async pool
    assert r.status_code == 200, r.text
    listed = intake.get("/v1/cases", headers=staff)  # the sync pool
    assert listed.status_code == 200, listed.text
    assert case_id in [c["case_id"] for c in listed.json()["items"]]


def test_a_connection_dropped_just_after_use_answers_503_once_then_is_replaced(
        intake: TestClient, token_for, database_url, monkeypatch: pytest.MonkeyPatch) -> None:
    staff = token_for(FIRST)
    case_id = register(intake, staff)["case_id"]
    assert post(intake, case_id, "accept", ACCEPT, staff).status_code == 200
    monkeypatch.setattr(outage, "CHECK_IDLE", 3600.0)  # every connection counts as recent
    stored = event_count(database_url)
    assert drop_intakes_connections(database_url) >= 1

    answers = []
    for _ in range(40):  # at most one failure per pooled connection
        answers.append(post(intake, case_id, "reply", REPLY, staff))
        if answers[-1].status_code != 503:
            break
    codes = [a.status_code for a in answers]
    assert codes[-1] == 200, codes  # the dropped ones were discarded: a new one served it
    failed = answers[:-1]
    assert failed, codes  # a dropped connection was handed out unchecked: 503, not 500
    for a in failed:
        assert a.status_code == 503 and int(a.headers["retry-after"]) > 0, a.text
        assert a.headers["content-type"].startswith("application/problem+json")
    assert event_count(database_url) == stored + 1  # the failed ones wrote nothing
