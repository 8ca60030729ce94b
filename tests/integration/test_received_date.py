"""A letter or forwarded item carries the date it was received (issue 14, item 7).

Over HTTP: the received date is recorded with who entered it, and it is the received event's
time, so every time limit counts from receipt; it must lie in the past and within the bound
(SHOUWEN_RECEIVED_DATE_MAX_AGE_DAYS, default 30). deadline-watch (rebuilt from the store, on a
controllable clock, the official 2026 calendar) then finds an old letter overdue at once, and
a letter received before the 2026 National Day breaches at the end of the first working day
after it and climbs the ladder one step at a time, each step once across two replicas.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from services.calendar.store import load_packaged_if_empty
from services.deadline_watch.calendar_port import CIVIL_TIME, end_of_day
from services.deadline_watch.service import build, rebuild
from services.intake.app import create_app
from tests.integration.intake_helpers import FIRST, event_count, events_of

LETTER = {"channel": "letter", "matter": "来信反映小区路灯长期不亮，请求维修",
          "inquirer_name": "刘敏", "inquirer_address": "示范市和平路12号"}


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def civil(y: int, m: int, d: int, h: int = 10, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=CIVIL_TIME).astimezone(UTC)


def fired(url: str, case_id: str) -> list[str]:
    return [e["type"] + str(e["data"].get("ladder_step") or "") for e in events_of(url, case_id)
            if e["actor"] == "service:deadline-watch" and e["type"] != "deadline_set"]


def test_a_received_date_is_recorded_with_who_entered_it_and_bounded_to_the_past(
        intake, token_for, database_url):
    clerk = token_for(FIRST)
    at = (datetime.now(UTC) - timedelta(days=10)).astimezone(CIVIL_TIME).replace(microsecond=0)
    r = intake.post("/v1/cases", json={**LETTER, "received_at": at.isoformat()}, headers=clerk)
    assert r.status_code == 201, r.text
    [received] = events_of(database_url, r.json()["case_id"])
    assert received["data"]["received_at"] == at.astimezone(UTC).isoformat().replace(
        "+00:00", "Z")
    assert received["data"]["received_at_entered_by"] == FIRST
    assert received["actor"] == f"staff:{FIRST}"
    detail = intake.get(f"/v1/cases/{r.json()['case_id']}", headers=clerk).json()
    assert datetime.fromisoformat(detail["events"][0]["time"]) == at

    before = event_count(database_url)
    now = datetime.now(UTC)
    for body, why in [
        ({**LETTER, "received_at": (now - timedelta(days=31)).isoformat()}, "more than 30 days"),
        ({**LETTER, "received_at": (now + timedelta(hours=2)).isoformat()}, "future"),
        ({**LETTER, "received_at": "2026-11-30T10:00:00"}, "time zone"),
        ({**LETTER, "channel": "visit", "inquirer_phone": "13912345678",
          "received_at": now.isoformat()}, "only a letter or a forwarded item"),
    ]:
        r = intake.post("/v1/cases", json=body, headers=clerk)
        assert r.status_code == 422 and why in r.text, (why, r.text)
        assert "received_at" in r.text
    assert event_count(database_url) == before
    forwarded = {**LETTER, "channel": "hotline", "inquirer_phone": "13912345678",
                 "forwarded_from": "12345热线",
                 "received_at": (now - timedelta(days=2)).isoformat()}
    assert intake.post("/v1/cases", json=forwarded, headers=clerk).status_code == 201


def test_an_item_received_before_national_day_breaches_after_it_and_climbs_once_per_step(
        db_settings, demo_directory, token_for, database_url):
    load_packaged_if_empty(database_url)  # the official 2026 schedule: 1-7 Oct off, 10 Oct on
    settings = db_settings.model_copy(update={"received_date_max_age_days": 400})
    with TestClient(create_app(settings)) as intake:
        # an item the 12345 hotline handed over (a phone matter: one obligation, forward)
        r = intake.post("/v1/cases", headers=token_for(FIRST), json={
            **LETTER, "channel": "phone", "inquirer_phone": "13912345678",
            "forwarded_from": "12345热线", "received_at": "2026-09-29T10:00:00+08:00"})
        assert r.status_code == 201, r.text
        old = intake.post("/v1/cases", headers=token_for(FIRST), json={
            **LETTER, "received_at": (datetime.now(UTC) - timedelta(days=20)).isoformat()})
    case_id, old_id = r.json()["case_id"], old.json()["case_id"]

    clock = Clock(civil(2026, 9, 29, 10, 5))
    watch, pool = build(database_url, now=clock)
    with pool:
        assert rebuild(watch) == 2
        # counted from receipt: forward = 30 Sep + the first working day after the holiday
        forward = next(e["data"] for e in events_of(database_url, case_id)
                       if e["type"] == "deadline_set" and e["data"]["obligation"] == "forward")
        assert forward["due_at"] == end_of_day(date(2026, 10, 8)).isoformat().replace(
            "+00:00", "Z")

    replicas = [build(database_url, now=clock) for _ in range(2)]
    gate = threading.Barrier(2)

    def drain(w) -> None:
        gate.wait()
        while w.tick():
            pass

    steps = [
        (civil(2026, 10, 5, 12), []),  # the holiday: nothing breaches
        (civil(2026, 10, 8, 23, 58), []),  # still the due day (Thu 8 Oct, worked)
        (civil(2026, 10, 9, 0, 1), ["deadline_breached"]),
        (civil(2026, 10, 10, 0, 1), ["escalated1"]),
        (civil(2026, 10, 11, 0, 1), ["escalated2"]),  # Sat 10 Oct was worked
        (civil(2026, 10, 12, 12), []),  # Sun 11 Oct is off
        (civil(2026, 10, 13, 0, 1), ["escalated3"]),  # the principal leader, once
    ]
    try:
        seen = [f for f in fired(database_url, case_id) if f.startswith(("deadline_b", "esc"))]
        assert seen == []
        for at, expected in steps:
            clock.at = at
            gate.reset()
            threads = [threading.Thread(target=drain, args=(w,)) for w, _ in replicas]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            now_seen = [f for f in fired(database_url, case_id)
                        if f.startswith(("deadline_breached", "escalated"))]
            assert now_seen[len(seen):] == expected, (at, now_seen)
            seen = now_seen
        assert "deadline_breached" not in fired(database_url, old_id)
        clock.at = datetime.now(UTC)  # the old letter (20 days ago) is overdue at once
        while replicas[0][0].tick():
            pass
        assert "deadline_breached" in fired(database_url, old_id)
    finally:
        for _, p in replicas:
            p.close()



def test_the_console_registers_a_letter_with_its_received_date_in_china_time(
        intake, database_url):
    from tests.integration.test_console import WALK_IN_FORM, register_by_form, sign_in

    csrf = sign_in(intake, FIRST)
    at = (datetime.now(CIVIL_TIME) - timedelta(days=3)).replace(second=0, microsecond=0)
    form = {**WALK_IN_FORM, "channel": "letter",
            "received_at": at.strftime("%Y-%m-%dT%H:%M"), "forwarded_from": ""}
    r = register_by_form(intake, csrf, form)
    assert r.status_code == 200 and 'id="receipt' in r.text, r.text[:2000]
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT time, data->>'received_at_entered_by' FROM events"
                           " WHERE type = 'shouwen.case.received.v1'").fetchone()
    assert row == (at.astimezone(UTC), FIRST)
