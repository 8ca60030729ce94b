"""The clerk's correction of the matter at ``accept`` sticks (issue 14, item 1).

Routing classifies a walk-in about a social-security card and refers it to a handler of
RSJ-SBK; the handler takes the handoff and accepts it under ANOTHER catalogue matter. The
accepted event carries the corrected code, and every read model shows the matter in force
and its history: the case (GET /v1/cases/{id} and the list), the console's 事项, the
ledger's case_summary and the replay (GET /v1/cases/{id}/history on the ledger app).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from services.cases.repository import CaseRepository
from services.directory.index import DirectoryIndex
from services.ledger.app import create_app
from services.ledger.rebuild import rebuild_from_store
from services.relay.sequencer import sequence_pass
from services.routing.router import Router
from tests.integration.intake_helpers import FIRST, events_of, post, register
from tests.integration.test_console import sign_in

WALK_IN = {"channel": "visit", "matter": "补办社保卡，卡丢了", "inquirer_name": "王小明",
           "inquirer_phone": "13912345678"}


@pytest.fixture
def url(db_settings) -> str:
    return str(db_settings.database_url)


@pytest.fixture
def pool(url) -> Iterator[ConnectionPool]:
    with ConnectionPool(url, min_size=1, max_size=2) as p:
        yield p


def test_the_matter_corrected_at_accept_is_the_matter_everywhere(
        intake, token_for, url, pool, demo_directory, db_settings):
    city = DirectoryIndex(demo_directory, 1)
    case_id = register(intake, token_for(FIRST), WALK_IN)["case_id"]
    repo = CaseRepository(pool)
    received = repo.store.read_stream(case_id)[0].event
    with pool.connection() as conn, conn.transaction():
        Router(repo, lambda: city).route(conn, received)
    routed = {e["type"]: e["data"] for e in events_of(url, case_id)}
    classified = routed["classified"]["matter_type_code"]
    handler = routed["referred"]["referral"]["handler"]["id"]
    corrected = "RSJ-SBK-03" if classified != "RSJ-SBK-03" else "RSJ-SBK-02"
    limit = city.matters[corrected].time_limit_working_days

    who = token_for(handler)
    assert post(intake, case_id, "accept-handoff", {}, who).status_code == 200
    r = post(intake, case_id, "accept", {"matter_type_code": corrected,
                                         "handling_plan": "按更正后的事项办理"}, who)
    assert r.status_code == 200, r.text
    assert r.json()["matter_type_code"] == corrected

    accepted = events_of(url, case_id)[-1]
    assert accepted["type"] == "accepted"
    assert accepted["data"]["matter_type_code"] == corrected
    assert accepted["data"]["matter_type_name"] == city.matters[corrected].name
    assert accepted["data"]["time_limit"]["working_days"] == limit

    detail = intake.get(f"/v1/cases/{case_id}", headers=who).json()
    assert detail["matter_type_code"] == corrected
    assert detail["matter_history"] == [classified, corrected]
    listed = intake.get("/v1/cases", params={"mine": "true"}, headers=who).json()["items"]
    assert [c["matter_type_code"] for c in listed if c["case_id"] == case_id] == [corrected]
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT matter_type_code FROM case_index WHERE case_id = %s",
                           (case_id,)).fetchone()
    assert row == (corrected,)

    # the console's 事项 shows the matter in force and what it was corrected from
    sign_in(intake, handler)
    page = intake.get(f"/console/cases/{case_id}")
    assert page.status_code == 200, page.text
    shown = re.search(r'<td id="matter-type">(.*?)</td>', page.text, re.S)
    assert shown is not None
    assert shown.group(1).startswith(f"{city.matters[corrected].name} · {corrected}")
    assert f"{city.matters[classified].name} · {classified}" in shown.group(1)

    # the ledger: case_summary and the replay, with the matter's history
    with psycopg.connect(url, autocommit=True) as conn:
        while sequence_pass(conn):
            pass
    rebuild_from_store(url)
    with psycopg.connect(url) as conn:
        code, history = conn.execute(
            "SELECT matter_type_code, matter_history FROM case_summary WHERE case_id = %s",
            (case_id,)).fetchone()
    assert code == corrected
    assert [(h["code"], h["by"]) for h in history] == [(classified, "classified"),
                                                       (corrected, "accepted")]
    with TestClient(create_app(db_settings)) as ledger:
        h = ledger.get(f"/v1/cases/{case_id}/history", headers=who).json()
    assert h["state"]["matter_type_code"] == corrected
    assert [m["code"] for m in h["state"]["matter_history"]] == [classified, corrected]
    step = next(s for s in h["steps"] if s["type"].endswith(".accepted.v1"))
    assert f"({corrected})" in step["did"]


def test_an_accept_without_a_code_keeps_the_classified_matter(intake, token_for, url):
    case_id = register(intake, token_for(FIRST))["case_id"]
    body = {"working_days": 3, "handling_plan": "三个工作日内答复"}
    assert post(intake, case_id, "accept", body, token_for(FIRST)).status_code == 200
    accepted = events_of(url, case_id)[-1]["data"]
    assert "matter_type_code" not in accepted or accepted["matter_type_code"] is None
    detail = intake.get(f"/v1/cases/{case_id}", headers=token_for(FIRST)).json()
    assert detail["matter_type_code"] is None and detail["matter_history"] == []
