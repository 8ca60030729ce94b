"""A leader does not approve their own request — one rule (services/cases/access.py
``may_decide``), asked by the command and by the console's forms alike."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.integration.intake_helpers import ACCEPT, FIRST, event_count, post, register
from tests.integration.test_console import sign_in

CHIEF = "ZX004"  # 张晓燕, section chief of the first responder's unit: a leader of the case


def test_a_leader_who_asked_for_an_extension_may_not_grant_it(
        intake: TestClient, token_for: Any, db_settings: Any) -> None:
    url = str(db_settings.database_url)
    case_id = register(intake, token_for(FIRST))["case_id"]
    due = date.fromisoformat(post(intake, case_id, "accept", ACCEPT, token_for(FIRST)
                                  ).json()["due_date"])
    ask = {"reason": "需省厅核验身份信息", "proposed_due_date": (due + timedelta(10)).isoformat()}
    assert post(intake, case_id, "extension-request", ask, token_for(CHIEF)).status_code == 200

    sign_in(intake, CHIEF)
    assert 'id="action-extension-decision"' not in intake.get(f"/console/cases/{case_id}").text
    before = event_count(url)
    grant = {"decision": "grant", "reason": "同意"}
    assert post(intake, case_id, "extension-decision", grant, token_for(CHIEF)
                ).status_code == 403
    assert event_count(url) == before

    sign_in(intake, "ZX001")  # another leader of the case's unit decides it
    assert 'id="action-extension-decision"' in intake.get(f"/console/cases/{case_id}").text
    assert post(intake, case_id, "extension-decision", grant, token_for("ZX001")
                ).status_code == 200
