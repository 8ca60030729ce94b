"""The accountability procedure over HTTP: real PostgreSQL, the demo directory, intake's app.

People (deploy/demo/directory.yaml): ZX005 李娜 window staff (first responder), her section
chief ZX004 张晓燕, the centre's supervising leader ZX002 陈丽华 and principal leader ZX001;
supervisors (纪检监察) ZX011 冯秀兰 and ZX010 何建平.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.intake_helpers import FIRST, event_count, events_of, register

SUPERVISOR, INVESTIGATOR = "ZX011", "ZX010"
ACCOUNTABILITY = {"accountability_opened", "preliminary_verified", "proposal_written",
                  "investigation_started", "investigation_extended", "accountability_decided",
                  "decision_delivered", "review_requested", "review_decided",
                  "accountability_closed"}


@pytest.fixture
def url(db_settings: Any) -> str:
    return str(db_settings.database_url)


def complained_case(intake: TestClient, token_for: Any) -> str:
    receipt = register(intake, token_for(FIRST))
    r = intake.post("/v1/public/complaints", json={
        "receipt_number": receipt["receipt_number"], "access_code": receipt["access_code"],
        "complaint": "窗口工作人员说不归她管，让我去找其他部门"})
    assert r.status_code == 201, r.text
    return str(receipt["case_id"])


def open_procedure(intake: TestClient, token_for: Any, case_id: str,
                   who: str = SUPERVISOR) -> Any:
    return intake.post(f"/v1/cases/{case_id}/accountability", headers=token_for(who),
                       json={"summary": "群众投诉首问责任人推诿"})


def step(intake: TestClient, token_for: Any, pid: str, name: str, body: dict[str, Any],
         who: str = SUPERVISOR) -> Any:
    return intake.post(f"/v1/accountability/{pid}/{name}", json=body, headers=token_for(who))


def ok(r: Any, code: int = 200) -> dict[str, Any]:
    assert r.status_code == code, r.text
    body: dict[str, Any] = r.json()
    return body


def to_investigation(intake: TestClient, token_for: Any, case_id: str) -> str:
    pid = str(ok(open_procedure(intake, token_for, case_id), 201)["procedure_id"])
    ok(step(intake, token_for, pid, "verify", {"findings": "经调阅录像，情况属实",
                                               "proceed": True}))
    ok(step(intake, token_for, pid, "proposal", {"proposal": "建议成立调查组调查"}))
    ok(step(intake, token_for, pid, "investigate", {"group_member_ids": [INVESTIGATOR]}))
    return pid


def decide(intake: TestClient, token_for: Any, pid: str, **more: Any) -> Any:
    return step(intake, token_for, pid, "decide", {
        "decided_by_id": "ZX001", "upheld": True, "reasoning": "违反首问负责制", **more})


def test_the_whole_procedure_one_event_per_step_by_the_supervisor(
        intake: TestClient, token_for: Any, url: str) -> None:
    case_id = complained_case(intake, token_for)
    opened = ok(open_procedure(intake, token_for, case_id), 201)
    pid = opened["procedure_id"]
    assert opened["stage"] == "opened" and opened["against_staff_ids"] == [FIRST]
    assert opened["next_steps"] == ["verify", "close"]
    ok(step(intake, token_for, pid, "verify", {"findings": "情况属实", "proceed": True}))
    ok(step(intake, token_for, pid, "proposal", {"proposal": "建议调查"}))
    investigating = ok(step(intake, token_for, pid, "investigate",
                            {"group_member_ids": [INVESTIGATOR, SUPERVISOR]}))
    assert investigating["investigation_due"] is not None
    proposed = investigating["proposed_responsibilities"]
    assert [(r["staff_id"], r["kind"], r["sanction"], r["violation_number"]) for r in proposed] == [
        (FIRST, "direct", "criticism_and_apology", 1),
        ("ZX004", "main_leadership", "criticism_and_apology", 1),
        ("ZX002", "important_leadership", "criticism_and_apology", 1)]
    extended = ok(step(intake, token_for, pid, "extend", {"approver_id": "ZX002",
                                                          "reason": "需调取热线录音"}))
    assert extended["extended"] and extended["investigation_due"] > investigating[
        "investigation_due"]
    decided = ok(decide(intake, token_for, pid, responsibilities=[
        {"staff_id": FIRST, "kind": "direct", "aggravating": ["obstructed_investigation"]},
        {"staff_id": "ZX004", "kind": "main_leadership", "mitigating": ["rules_silent"]}]))
    assert [(r["staff_id"], r["sanction"], r["violation_number"])
            for r in decided["responsibilities"]] == [
        (FIRST, "admonishment", 1), ("ZX004", "warning_reminder", 1)]
    assert decided["stage"] == "decided" and decided["delivery_due"]
    delivered = ok(step(intake, token_for, pid, "deliver", {"rights_told": True}))
    assert delivered["next_steps"] == []  # the review window is open: nothing to close yet
    mine = ok(intake.get(f"/v1/accountability/{pid}", headers=token_for(FIRST)))
    assert mine["next_steps"] == ["review_request"]
    ok(step(intake, token_for, pid, "review-request", {"grounds": "当时系统故障"}, who=FIRST))
    ok(step(intake, token_for, pid, "review-decide", {"outcome": "upheld", "reason": "维持"}))
    closed = ok(step(intake, token_for, pid, "close", {}))
    assert closed["stage"] == "closed" and closed["ground"] == "reviewed"

    steps = [e for e in events_of(url, case_id) if e["type"] in ACCOUNTABILITY]
    assert [e["type"] for e in steps] == [
        "accountability_opened", "preliminary_verified", "proposal_written",
        "investigation_started", "investigation_extended", "accountability_decided",
        "decision_delivered", "review_requested", "review_decided", "accountability_closed"]
    assert [e["actor"] for e in steps] == [f"staff:{SUPERVISOR}"] * 7 + [
        f"staff:{FIRST}"] + [f"staff:{SUPERVISOR}"] * 2
    assert {e["data"]["procedure_id"] for e in steps} == {pid}
    received = events_of(url, case_id)[0]
    assert {e["correlation"] for e in steps} == {received["id"]}
    assert steps[5]["data"]["decided_by"] == {"id": "ZX001", "role": "principal_leader",
                                              "name": "周卫东"}
    assert steps[6]["data"]["delivered_to_ids"] == [FIRST, "ZX004"]
    listed = ok(intake.get("/v1/accountability?open=false", headers=token_for(SUPERVISOR)))
    assert [(i["procedure_id"], i["stage"]) for i in listed["items"]] == [(pid, "closed")]


def test_only_supervisors_run_it(intake: TestClient, token_for: Any, url: str) -> None:
    case_id = complained_case(intake, token_for)
    before = event_count(url)
    for who in (FIRST, "ZX004", "ZX001", "ZX013"):  # staff, chief, principal, centre_admin
        r = open_procedure(intake, token_for, case_id, who=who)
        assert r.status_code == 403 and "supervisor" in r.json()["detail"], r.text
    pid = ok(open_procedure(intake, token_for, case_id), 201)["procedure_id"]
    r = step(intake, token_for, pid, "verify", {"findings": "x", "proceed": True}, who="ZX004")
    assert r.status_code == 403
    assert intake.get(f"/v1/accountability/{pid}", headers=token_for("ZX004")).status_code == 404
    assert intake.get("/v1/accountability", headers=token_for(FIRST)).status_code == 403
    assert event_count(url) == before + 1


def test_a_step_out_of_order_is_409_with_the_stage(intake: TestClient, token_for: Any,
                                                   url: str) -> None:
    case_id = complained_case(intake, token_for)
    pid = ok(open_procedure(intake, token_for, case_id), 201)["procedure_id"]
    no_complaint = register(intake, token_for(FIRST))["case_id"]
    before = event_count(url)
    r = decide(intake, token_for, pid)
    assert r.status_code == 409
    assert r.json() == {"type": "about:blank", "title": "Conflict", "status": 409,
                        "detail": "decide: not allowed while the procedure is opened",
                        "action": "decide", "stage": "opened"}
    assert r.headers["content-type"] == "application/problem+json"
    r = step(intake, token_for, pid, "close", {})
    assert r.status_code == 409 and "withdraw" in r.json()["detail"]
    again = open_procedure(intake, token_for, case_id)
    assert again.status_code == 409 and pid in again.json()["detail"]
    r = open_procedure(intake, token_for, no_complaint)
    assert r.status_code == 409 and "no complaint" in r.json()["detail"]
    assert event_count(url) == before


@pytest.mark.parametrize(("name", "body", "field"), [
    ("verify", {"findings": "x"}, "proceed"),
    ("verify", {"findings": "", "proceed": True}, "findings"),
    ("verify", {"findings": "x", "proceed": True, "stage": "closed"}, "stage"),
    ("investigate", {"group_member_ids": ["NOBODY"]}, "group_member_ids.0"),
    ("investigate", {"group_member_ids": []}, "group_member_ids"),
])
def test_bad_input_is_422_naming_the_field(intake: TestClient, token_for: Any, url: str,
                                           name: str, body: dict[str, Any], field: str) -> None:
    case_id = complained_case(intake, token_for)
    pid = ok(open_procedure(intake, token_for, case_id), 201)["procedure_id"]
    if name == "investigate":
        ok(step(intake, token_for, pid, "verify", {"findings": "属实", "proceed": True}))
        ok(step(intake, token_for, pid, "proposal", {"proposal": "调查"}))
    before = event_count(url)
    r = step(intake, token_for, pid, name, body)
    assert r.status_code == 422, r.text
    assert field in str(r.json()["detail"])
    assert event_count(url) == before


def test_bad_decisions_are_422_naming_the_field(intake: TestClient, token_for: Any,
                                                url: str) -> None:
    pid = to_investigation(intake, token_for, complained_case(intake, token_for))
    before = event_count(url)
    cases = [
        ({"decided_by_id": FIRST}, "decided_by_id"),  # not a leader
        ({"responsibilities": [{"staff_id": FIRST, "kind": "direct",
                                "mitigating": ["obstructed_investigation"]}]},
         "responsibilities.0.mitigating"),
        ({"responsibilities": [{"staff_id": "GHOST", "kind": "direct"}]},
         "responsibilities.0"),
        ({"upheld": False, "responsibilities": [{"staff_id": FIRST, "kind": "direct"}]},
         "responsibilities"),
        ({"responsibilities": [{"staff_id": FIRST, "kind": "direct",
                                "violation_number": 7}]}, "violation_number"),
    ]
    for more, field in cases:
        r = decide(intake, token_for, pid, **more)
        assert r.status_code == 422, (more, r.text)
        assert field in str(r.json()["detail"]), (field, r.text)
    assert event_count(url) == before


def test_a_second_violation_proposes_circulated_criticism(intake: TestClient, token_for: Any
                                                          ) -> None:
    first = to_investigation(intake, token_for, complained_case(intake, token_for))
    decided = ok(decide(intake, token_for, first))
    assert decided["responsibilities"][0]["violation_number"] == 1
    second = to_investigation(intake, token_for, complained_case(intake, token_for))
    view = ok(intake.get(f"/v1/accountability/{second}", headers=token_for(SUPERVISOR)))
    direct = view["proposed_responsibilities"][0]
    assert (direct["staff_id"], direct["violation_number"], direct["sanction"]) == (
        FIRST, 2, "circulated_criticism")
    decided = ok(decide(intake, token_for, second))
    assert [(r["staff_id"], r["violation_number"], r["sanction"])
            for r in decided["responsibilities"]][0] == (FIRST, 2, "circulated_criticism")


def test_a_revoked_decision_no_longer_counts(intake: TestClient, token_for: Any) -> None:
    first = to_investigation(intake, token_for, complained_case(intake, token_for))
    ok(decide(intake, token_for, first))
    ok(step(intake, token_for, first, "deliver", {"rights_told": True}))
    r = step(intake, token_for, first, "review-request", {"grounds": "x"}, who=SUPERVISOR)
    assert r.status_code == 403  # only the sanctioned person, themselves
    ok(step(intake, token_for, first, "review-request", {"grounds": "不实"}, who=FIRST))
    ok(step(intake, token_for, first, "review-decide", {"outcome": "revoked",
                                                        "reason": "证据不足"}))
    second = to_investigation(intake, token_for, complained_case(intake, token_for))
    view = ok(intake.get(f"/v1/accountability/{second}", headers=token_for(SUPERVISOR)))
    assert view["proposed_responsibilities"][0]["violation_number"] == 1


def test_a_supervisor_complained_about_stands_aside(intake: TestClient, token_for: Any,
                                                    url: str) -> None:
    receipt = register(intake, token_for(SUPERVISOR))  # ZX011 answered this one herself
    r = intake.post("/v1/public/complaints", json={
        "receipt_number": receipt["receipt_number"], "access_code": receipt["access_code"],
        "complaint": "态度恶劣"})
    assert r.status_code == 201, r.text
    r = open_procedure(intake, token_for, receipt["case_id"], who=SUPERVISOR)
    assert r.status_code == 403 and "stand aside" in r.json()["detail"]
    pid = ok(open_procedure(intake, token_for, receipt["case_id"], who=INVESTIGATOR), 201)[
        "procedure_id"]
    r = step(intake, token_for, pid, "verify", {"findings": "无", "proceed": False})
    assert r.status_code == 403 and "stand aside" in r.json()["detail"]
    ok(step(intake, token_for, pid, "verify", {"findings": "不属实", "proceed": False},
            who=INVESTIGATOR))
    closed = ok(step(intake, token_for, pid, "close", {}, who=INVESTIGATOR))
    assert (closed["stage"], closed["ground"]) == ("closed", "not_substantiated")
