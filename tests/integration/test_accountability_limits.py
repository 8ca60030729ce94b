"""An accountability procedure's due dates come from the unit's policy and calendar: the same
values and days deadline-watch counts its clocks by, so a unit override moves both alike."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from events.deadline import Obligation
from services.calendar.builtin import today
from services.calendar.limits import national, unit_rules
from services.calendar.policy import load_policy
from services.calendar.policy_store import save_policy
from services.common.eventstore import EventStore
from services.deadline_watch.obligations import fold_clocks
from tests.integration.intake_helpers import events_of
from tests.integration.test_accountability_api import complained_case, decide, ok, to_investigation


def clocks_of(url: str, case_id: str, unit_id: str) -> Any:
    with psycopg.connect(url) as conn:
        rules = unit_rules(conn, unit_id)
        events = [r.event for r in EventStore(url).read_stream(case_id, conn=conn)]
    return fold_clocks(case_id, events, rules.policy, rules.calendar).clocks


def test_a_unit_policy_sets_the_procedures_due_dates_as_deadline_watchs(
        intake: TestClient, token_for: Any, db_settings: Any) -> None:
    url = str(db_settings.database_url)
    case_id = complained_case(intake, token_for)
    unit = events_of(url, case_id)[0]["data"]["unit_id"]
    with psycopg.connect(url) as conn:
        save_policy(conn, load_policy({"units": {unit: {
            "investigation_working_days": 4, "decision_delivery_working_days": 2}}}),
            "test", "test")
    pid = to_investigation(intake, token_for, case_id)
    investigating = ok(intake.get(f"/v1/accountability/{pid}", headers=token_for("ZX011")))
    watch = clocks_of(url, case_id, unit)[Obligation.investigation]
    assert watch.limit_working_days == 4
    assert date.fromisoformat(investigating["investigation_due"]) == watch.due_day
    assert watch.due_day < national().working_days_after(today(), 30)  # not the presets

    decided = ok(decide(intake, token_for, pid))
    watch = clocks_of(url, case_id, unit)[Obligation.decision_delivery]
    assert watch.limit_working_days == 2
    assert date.fromisoformat(decided["delivery_due"]) == watch.due_day
