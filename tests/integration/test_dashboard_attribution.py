"""Which unit a case counts for on the leaders' dashboard (issue 14, item 2).

Cases through the intake API, projected by the ledger's rebuild, read by each side's
principal leader (docs/ARCHITECTURE.md, "Who a case counts for"):

    1  received at RSJ (RSJ008), referred to GAJ's 户籍管理股, taken and accepted by GAJ005
    2  received at GAJ (GAJ005), referred to RSJ's 社保卡股, awaiting RSJ008's acceptance
    3  received at RSJ, the inquirer referred to an outside body        (referred out)
    4  received at RSJ, answered, completed and the result delivered    (not open)

A case counts (open, overdue, escalated) under the unit handling it now, and the unit that
received it lists it as tracked; referred-out cases are labelled; delivered ones not open.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.common.settings import Settings
from services.dashboard.app import create_app
from services.ledger.rebuild import rebuild_from_store
from services.relay.sequencer import sequence_pass
from tests.integration.intake_helpers import WALK_IN, post, register
from tests.integration.test_dashboard import figure, row

ACCEPT = {"working_days": 5, "handling_plan": "五个工作日内办结"}


def tracked(html: str, unit: str, section: str) -> tuple[int, int, int]:
    found = re.search(rf'data-unit="{unit}" data-tracked="{section}">.*?<td class="open">(\d+)'
                      r'</td><td class="overdue">(\d+)</td><td class="escalated">(\d+)</td>',
                      html, flags=re.S)
    assert found, f"no tracked row {unit} -> {section}"
    return int(found.group(1)), int(found.group(2)), int(found.group(3))


def ok(r: Any) -> None:
    assert r.status_code == 200, r.text


@pytest.fixture
def dashboard(db_settings: Settings):
    with TestClient(create_app(db_settings), follow_redirects=False) as client:
        yield client


def test_a_cross_unit_case_counts_where_it_is_handled_and_is_tracked_where_received(
        intake, dashboard, token_for, database_url):
    rsj, gaj = token_for("RSJ008"), token_for("GAJ005")
    one = register(intake, rsj, WALK_IN)["case_id"]
    ok(post(intake, one, "refer", {"kind": "internal", "section_id": "GAJ-HJ",
                                   "handler_id": "GAJ005"}, rsj))
    ok(post(intake, one, "accept-handoff", {}, gaj))
    ok(post(intake, one, "accept", ACCEPT, gaj))
    two = register(intake, gaj, WALK_IN)["case_id"]
    ok(post(intake, two, "refer", {"kind": "internal", "section_id": "RSJ-SBK",
                                   "handler_id": "RSJ008"}, gaj))
    three = register(intake, rsj, WALK_IN)["case_id"]
    ok(post(intake, three, "refer", {"kind": "external", "body_id": "PROV-RST"}, rsj))
    four = register(intake, rsj, WALK_IN)["case_id"]
    for action, body in (("accept", ACCEPT), ("reply", {"answer": "已为您办理完毕"}),
                         ("complete", {"outcome": "resolved", "summary": "已办结"}),
                         ("deliver", {"method": "sms", "recipient_name": "王小明",
                                      "recipient_contact": "13912345678"})):
        ok(post(intake, four, action, body, rsj))
    with psycopg.connect(database_url, autocommit=True) as conn:
        while sequence_pass(conn):
            pass
    rebuild_from_store(database_url)

    html = dashboard.get("/dashboard", headers=token_for("RSJ001")).text
    assert figure(html, "total-open") == "2"  # 2 handled here and 3 referred out; 4 delivered
    assert row(html, "RSJ") == (2, 0, 0)
    assert row(html, "RSJ", "RSJ-SBK") == (1, 0, 0)
    assert row(html, "RSJ", "referred-out") == (1, 0, 0)
    assert "转外单位（已告知去向） referred to an outside body" in html
    assert tracked(html, "RSJ", "GAJ-HJ") == (1, 0, 0)  # received here, GAJ handles it
    assert 'data-unit="GAJHZ">' not in html and "户籍" in html

    html = dashboard.get("/dashboard", headers=token_for("GAJ001")).text
    assert figure(html, "total-open") == "1"
    assert row(html, "GAJHZ") == (1, 0, 0) and row(html, "GAJHZ", "GAJ-HJ") == (1, 0, 0)
    assert tracked(html, "GAJHZ", "RSJ-SBK") == (1, 0, 0)  # awaiting RSJ's acceptance
    assert 'data-unit="RSJ">' not in html
