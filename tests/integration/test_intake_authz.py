"""Object-level authorisation (OWASP API1) and mass assignment, endpoint by endpoint.

Staff of another unit get 404 for every object endpoint, as if the case did not exist, and
write nothing; colleagues and leaders of the unit see it; the supervisor reads every case and
acts on none; only the handler, the responsible person and the unit's leaders act. Fields the
server derives (status, first responder, unit, handler, ...) cannot be sent at all.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from tests.integration.intake_helpers import (
    ACCEPT,
    FIRST,
    PHONE_CALL,
    REPLY,
    WALK_IN,
    event_count,
    events_of,
    post,
    register,
)

OUTSIDER = "SWJ005"  # tax unit: never in these cases
SUPERVISOR = "ZX011"

# every action endpoint with a body that is valid as a request
ACTIONS: list[tuple[str, dict[str, Any] | None]] = [
    ("accept", ACCEPT),
    ("one-time-notice", {"missing_materials": [{"name": "居民身份证原件"}]}),
    ("materials-supplied", {"materials": ["居民身份证原件"], "complete": True}),
    ("refer", {"kind": "internal", "section_id": "RSJ-SBK", "handler_id": "RSJ008"}),
    ("accept-handoff", None),
    ("escalate", {"to": "section_chief", "reason": "unclear_jurisdiction"}),
    ("transfer-request", {"reason": "外出培训"}),
    ("transfer-decision", {"decision": "approve", "new_responsible_id": "ZX006"}),
    ("extension-request", {"reason": "需核验", "proposed_due_date": str(date.today()
                                                                     + timedelta(days=35))}),
    ("extension-decision", {"decision": "grant", "reason": "同意延期"}),
    ("reply", REPLY),
    ("complete", {"outcome": "resolved", "summary": "已办结"}),
    ("deliver", {"method": "sms", "recipient_name": "王小明"}),
    ("close", {"reason": "completed"}),
]


@pytest.fixture
def url(db_settings) -> str:
    return str(db_settings.database_url)


@pytest.fixture
def case_id(intake, token_for) -> str:
    return str(register(intake, token_for(FIRST))["case_id"])
NOT_FOUND = {"type": "about:blank", "title": "Not Found", "status": 404,
             "detail": "case not found"}


def test_another_units_staff_get_404_on_every_object_endpoint_and_write_nothing(
        intake, token_for, url, case_id):
    outsider = token_for(OUTSIDER)
    before = event_count(url)
    r = intake.get(f"/v1/cases/{case_id}", headers=outsider)
    assert r.status_code == 404 and r.json() == NOT_FOUND
    for action, body in ACTIONS:
        r = post(intake, case_id, action, body, outsider)
        assert (r.status_code, r.json()) == (404, NOT_FOUND), action
    assert event_count(url) == before
    assert intake.get("/v1/cases", headers=outsider).json()["total"] == 0
    # same answer as for a case that does not exist: ids cannot be probed
    missing = "C-" + "0" * 32
    assert intake.get(f"/v1/cases/{missing}", headers=outsider).json() == r.json()


def test_the_supervisor_reads_every_case_and_acts_on_none(intake, token_for, url, case_id):
    supervisor = token_for(SUPERVISOR)
    r = intake.get(f"/v1/cases/{case_id}", headers=supervisor)
    assert r.status_code == 200 and r.json()["personal_data_masked"] is False
    assert r.json()["events"][0]["data"]["inquirer_phone"] == WALK_IN["inquirer_phone"]
    before = event_count(url)
    for action, body in ACTIONS:
        r = post(intake, case_id, action, body, supervisor)
        assert r.status_code == 403, (action, r.text)
    assert event_count(url) == before


def test_colleagues_see_the_units_case_but_only_its_holder_acts(intake, token_for, url, case_id):
    colleague = token_for("ZX006")  # same section, not the handler
    assert intake.get(f"/v1/cases/{case_id}", headers=colleague).status_code == 200
    before = event_count(url)
    for action, body in ACTIONS:
        assert post(intake, case_id, action, body, colleague).status_code == 403, action
    assert event_count(url) == before


def test_leaders_of_the_unit_see_the_case_and_may_act(intake, token_for, url, case_id):
    for leader in ("ZX004", "ZX002", "ZX001"):
        r = intake.get(f"/v1/cases/{case_id}", headers=token_for(leader))
        assert r.status_code == 200, leader
        listed = intake.get("/v1/cases", headers=token_for(leader)).json()["items"]
        assert case_id in [c["case_id"] for c in listed]
    assert post(intake, case_id, "reply", REPLY, token_for("ZX004")).status_code == 200
    assert events_of(url, case_id)[-1]["actor"] == "staff:ZX004"


def test_a_referral_opens_the_case_to_the_receiving_unit_only(intake, token_for, case_id):
    body = {"kind": "internal", "section_id": "RSJ-SBK", "handler_id": "RSJ008"}
    assert post(intake, case_id, "refer", body, token_for(FIRST)).status_code == 200
    for reader in ("RSJ008", "RSJ009", "RSJ001"):
        assert intake.get(f"/v1/cases/{case_id}", headers=token_for(reader)).status_code == 200
    assert intake.get(f"/v1/cases/{case_id}", headers=token_for(OUTSIDER)).status_code == 404
    # only the named handler (or the section's chief) takes the handoff
    assert post(intake, case_id, "accept-handoff", None, token_for("RSJ009")).status_code == 403
    assert post(intake, case_id, "accept-handoff", None, token_for("RSJ008")).status_code == 200


def test_oversight_outside_the_unit_sees_personal_data_masked(intake, token_for):
    case_id = register(intake, token_for(OUTSIDER), PHONE_CALL)["case_id"]
    for reader in ("ZX013", "ZX002"):  # centre_admin, centre leadership
        r = intake.get(f"/v1/cases/{case_id}", headers=token_for(reader))
        assert r.status_code == 200 and r.json()["personal_data_masked"] is True
        data = r.json()["events"][0]["data"]
        assert data["inquirer_name"] == "陈**" and data["inquirer_phone"] != "0935-8123456"
    r = intake.get(f"/v1/cases/{case_id}", headers=token_for(SUPERVISOR))
    assert r.json()["events"][0]["data"]["inquirer_name"] == "陈大伟"
    for outsider in ("RSJ008", "ZX005"):
        assert intake.get(f"/v1/cases/{case_id}", headers=token_for(outsider)).status_code == 404


def test_another_units_principal_leader_cannot_decide_a_transfer(intake, token_for, url, case_id):
    assert post(intake, case_id, "transfer-request", {"reason": "外出培训"}, token_for(FIRST)
                ).status_code == 200
    decision = {"decision": "approve", "new_responsible_id": "ZX006"}
    assert post(intake, case_id, "transfer-decision", decision, token_for("RSJ001")
                ).status_code == 404


@pytest.mark.parametrize("field", [
    {"status": "closed"}, {"first_responder_id": "ZX001"}, {"unit_id": "RSJ"},
    {"receipt_number": "SW1"}, {"access_code": "AAAAAAAAAA"}, {"case_id": "C-1"},
    {"first_responder_name": "周卫东"}, {"actor": "staff:ZX001"},
])
def test_registration_refuses_server_derived_fields(intake, token_for, url, field):
    before = event_count(url)
    r = intake.post("/v1/cases", json={**WALK_IN, **field}, headers=token_for(FIRST))
    assert r.status_code == 422
    [error] = r.json()["errors"]
    assert error["loc"] == ["body", next(iter(field))] and error["type"] == "extra_forbidden"
    assert event_count(url) == before


def test_action_bodies_refuse_server_derived_fields(intake, token_for, url, case_id):
    headers = token_for(FIRST)
    attempts = [
        ("reply", {**REPLY, "status": "closed"}),
        ("reply", {**REPLY, "actor": "staff:ZX001"}),
        ("accept", {**ACCEPT, "handler": {"id": "ZX001"}}),
        ("accept", {**ACCEPT, "due_date": "2099-12-31"}),
        ("accept", {**ACCEPT, "version": 9}),
        ("escalate", {"to": "principal_leader", "reason": "complaint", "leader_id": "ZX006"}),
        ("transfer-request", {"reason": "x", "responsible_id": "ZX006"}),
        ("refer", {"kind": "internal", "section_id": "ZX-CJCK", "handler_id": "ZX009",
                   "unit_id": "RSJ"}),
        ("accept-handoff", {"handler_id": "ZX005"}),
    ]
    before = event_count(url)
    for action, body in attempts:
        r = post(intake, case_id, action, body, headers)
        assert r.status_code == 422, (action, body, r.text)
        assert r.json()["errors"][0]["type"] == "extra_forbidden", action
    assert event_count(url) == before
    detail = intake.get(f"/v1/cases/{case_id}", headers=headers).json()
    assert (detail["status"], detail["version"], detail["handler_id"]) == (
        "received", 1, FIRST)
