"""The supervisors' accountability pages over HTTP, posting the forms a browser would."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from services.common.settings import Settings
from tests.integration.intake_helpers import FIRST, events_of, register
from tests.integration.test_console import csrf_of, sign_in

SUPERVISOR = "ZX011"
_PID = re.compile(r"/console/accountability/(AP-[0-9a-f]{32})")


def complained_case(intake: TestClient, token_for: Any) -> dict[str, Any]:
    receipt = register(intake, token_for(FIRST))
    r = intake.post("/v1/public/complaints", json={
        "receipt_number": receipt["receipt_number"], "access_code": receipt["access_code"],
        "complaint": "工作人员推诿"})
    assert r.status_code == 201, r.text
    return receipt


def post_step(intake: TestClient, pid: str, step: str, form: dict[str, str]) -> Any:
    page = intake.get(f"/console/accountability/{pid}")
    version = re.search(r'name="expected_version" value="(\d+)"', page.text)
    assert version, page.text
    return intake.post(f"/console/accountability/{pid}/{step}", follow_redirects=False,
                       data={"csrf": csrf_of(page.text), "expected_version": version.group(1),
                             **form})


def test_a_supervisor_walks_a_procedure_through_the_pages(
        intake: TestClient, token_for: Any, db_settings: Settings) -> None:
    receipt = complained_case(intake, token_for)
    csrf = sign_in(intake, SUPERVISOR)
    r = intake.post("/console/accountability/open", follow_redirects=False, data={
        "csrf": csrf, "receipt_number": receipt["receipt_number"], "summary": "推诿"})
    assert r.status_code == 303, r.text
    found = _PID.search(r.headers["location"])
    assert found
    pid = found.group(1)
    listing = intake.get("/console/accountability")
    assert listing.status_code == 200 and pid[:11] in listing.text
    assert receipt["receipt_number"] in listing.text

    for step, form in [("verify", {"findings": "属实", "proceed": "true"}),
                       ("proposal", {"proposal": "建议调查"}),
                       ("investigate", {"group_member_ids": "ZX010, ZX011"})]:
        r = post_step(intake, pid, step, form)
        assert r.status_code == 303, (step, r.text)
    page = intake.get(f"/console/accountability/{pid}")
    assert "调查中" in page.text and 'id="step-decide"' in page.text
    assert 'name="r.0.staff_id" value="ZX005"' in page.text
    assert 'name="r.2.staff_id" value="ZX002"' in page.text

    r = post_step(intake, pid, "decide", {
        "decided_by_id": "ZX001", "upheld": "true", "reasoning": "违反首问负责制",
        "r.0.include": "true", "r.0.staff_id": FIRST, "r.0.kind": "direct",
        "r.0.aggravating": "obstructed_investigation",
        "r.1.staff_id": "ZX004", "r.1.kind": "main_leadership"})  # not ticked: left out
    assert r.status_code == 303, r.text
    decided = [e for e in events_of(str(db_settings.database_url), receipt["case_id"])
               if e["type"] == "accountability_decided"]
    assert [(x["staff_id"], x["sanction"], x["aggravating"])
            for x in decided[0]["data"]["responsibilities"]] == [
        (FIRST, "admonishment", ["obstructed_investigation"])]
    assert decided[0]["actor"] == f"staff:{SUPERVISOR}"
    page = intake.get(f"/console/accountability/{pid}")
    assert "诫勉谈话" in page.text and "阻挠调查" in page.text  # the sanction, the circumstance
    case_page = intake.get(f"/console/cases/{receipt['case_id']}")  # its timeline shows them
    assert case_page.status_code == 200 and "event-accountability_decided" in case_page.text


def test_a_refused_step_comes_back_with_the_reason(intake: TestClient, token_for: Any) -> None:
    receipt = complained_case(intake, token_for)
    csrf = sign_in(intake, SUPERVISOR)
    r = intake.post("/console/accountability/open", follow_redirects=False, data={
        "csrf": csrf, "receipt_number": receipt["receipt_number"], "summary": "推诿"})
    found = _PID.search(r.headers["location"])
    assert found
    pid = found.group(1)
    r = post_step(intake, pid, "decide", {"decided_by_id": "ZX001", "upheld": "true",
                                          "reasoning": "x"})
    assert r.status_code == 409 and "not allowed while the procedure is opened" in r.text
    r = post_step(intake, pid, "verify", {"findings": "", "proceed": "true"})
    assert r.status_code == 422 and "findings" in r.text
    again = intake.post("/console/accountability/open", data={
        "csrf": csrf, "receipt_number": "SW-NONE", "summary": "x"})
    assert again.status_code == 422 and "receipt_number" in again.text


def test_other_staff_may_not_use_the_pages(intake: TestClient, token_for: Any,
                                           db_settings: Settings) -> None:
    url = str(db_settings.database_url)
    receipt = complained_case(intake, token_for)
    sign_in(intake, SUPERVISOR)
    page = intake.get("/console/accountability")
    r = intake.post("/console/accountability/open", follow_redirects=False, data={
        "csrf": csrf_of(page.text), "receipt_number": receipt["receipt_number"],
        "summary": "推诿"})
    found = _PID.search(r.headers["location"])
    assert found
    csrf = sign_in(intake, "ZX004")
    assert intake.get("/console/accountability").status_code == 403
    assert intake.get(f"/console/accountability/{found.group(1)}").status_code == 404
    r = intake.post(f"/console/accountability/{found.group(1)}/verify",
                    data={"csrf": csrf, "findings": "x", "proceed": "true"})
    assert r.status_code == 404  # not theirs to see, so not theirs to act on
    steps = [e["type"] for e in events_of(url, receipt["case_id"])]
    assert "preliminary_verified" not in steps
