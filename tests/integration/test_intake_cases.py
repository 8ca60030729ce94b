"""The staff intake API over HTTP, on a real PostgreSQL with the demo city's directory.

Each action appends exactly one event naming the person who acted (``staff:<id>``), with no
causation (a person acted, nothing caused it) and the case's received event as correlation.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.calendar import builtin_book
from services.calendar.builtin import today
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


@pytest.fixture
def url(db_settings) -> str:
    return str(db_settings.database_url)


def test_walk_in_is_registered_with_the_first_responder_on_the_receipt(intake, token_for, url):
    r = intake.post("/v1/cases", json=WALK_IN, headers=token_for(FIRST))
    assert r.status_code == 201, r.text
    receipt = r.json()
    assert r.headers["location"] == f"/v1/cases/{receipt['case_id']}"
    assert receipt["first_responder_name"] == "李娜"
    assert "综合受理窗口" in receipt["first_responder_duty"]
    assert receipt["first_responder_contact"] == "0935-8100105"
    assert receipt["unit_name"] == "示范市政务服务中心"
    assert receipt["receipt_number"].startswith("SW") and len(receipt["access_code"]) == 10

    [received] = events_of(url, receipt["case_id"])
    assert received["type"] == "received" and received["actor"] == "staff:ZX005"
    assert received["causation"] is None and received["correlation"] == received["id"]
    data = received["data"]
    assert data["channel"] == "visit" and data["unit_id"] == "ZWFWZX"
    assert data["first_responder_id"] == "ZX005"
    assert data["receipt_number"] == receipt["receipt_number"]
    assert (data["inquirer_name"], data["inquirer_phone"]) == ("王小明", "13912345678")
    assert data["matter"] == WALK_IN["matter"]


def test_phone_inquiry_records_caller_name_phone_and_content(intake, token_for, url):
    receipt = register(intake, token_for("ZX006"), PHONE_CALL)
    [received] = events_of(url, receipt["case_id"])
    assert received["actor"] == "staff:ZX006"
    d = received["data"]
    assert (d["channel"], d["inquirer_name"], d["inquirer_phone"], d["matter"]) == (
        "phone", "陈大伟", "0935-8123456", PHONE_CALL["matter"])
    assert d["first_responder_name"] == "赵鹏"


def test_full_path_referred_to_another_units_handler_each_step_with_its_actor(
        intake, token_for, url):
    first, handler = token_for(FIRST), token_for("RSJ008")
    case_id = register(intake, first, PHONE_CALL)["case_id"]

    steps = [
        (first, "refer", {"kind": "internal", "section_id": "RSJ-SBK", "handler_id": "RSJ008",
                          "reason": "社保卡业务由人社局社会保障卡服务股谢丹丹办理，已电话落实"},
         "awaiting_handoff"),
        (handler, "accept-handoff", None, "in_handling"),
        (handler, "accept", ACCEPT, "in_handling"),
        (handler, "reply", REPLY, "replied"),
        (handler, "complete", {"outcome": "resolved", "summary": "社保卡已制作完成"},
         "completed"),
        (handler, "deliver", {"method": "sms", "recipient_name": "陈大伟",
                              "recipient_contact": "0935-8123456"}, "delivered"),
        (handler, "close", {"reason": "completed"}, "closed"),
    ]
    for headers, action, body, expected_status in steps:
        r = post(intake, case_id, action, body, headers)
        assert r.status_code == 200, (action, r.text)
        assert r.json()["status"] == expected_status, action

    events = events_of(url, case_id)
    assert [(e["type"], e["actor"]) for e in events] == [
        ("received", "staff:ZX005"), ("referred", "staff:ZX005"),
        ("handoff_accepted", "staff:RSJ008"), ("accepted", "staff:RSJ008"),
        ("replied", "staff:RSJ008"), ("completed", "staff:RSJ008"),
        ("result_delivered", "staff:RSJ008"), ("closed", "staff:RSJ008"),
    ]
    received_id = events[0]["id"]
    assert all(e["causation"] is None and e["correlation"] == received_id for e in events)
    referral = events[1]["data"]["referral"]
    assert referral["unit_id"] == "RSJ" and referral["handler"]["name"] == "谢丹丹"
    limit = events[3]["data"]["time_limit"]
    assert limit["working_days"] == 15
    # no schedule is loaded in the test database: the library's rules, as builtin_book's
    due = builtin_book().for_unit("RSJ").add_working_days(datetime.now(UTC), 15)
    assert limit["due_date"] == due.day.isoformat()

    detail = intake.get(f"/v1/cases/{case_id}", headers=first).json()
    assert detail["status"] == "closed" and detail["units"] == ["ZWFWZX", "RSJ"]
    assert [e["actor"] for e in detail["events"]][-1] == "staff:RSJ008"


def test_referral_to_another_section_of_the_same_unit_waits_for_its_handler(
        intake, token_for, url):
    case_id = register(intake, token_for(FIRST))["case_id"]
    body = {"kind": "internal", "section_id": "ZX-CJCK", "handler_id": "ZX009",
            "handler_present": False}
    assert post(intake, case_id, "refer", body, token_for(FIRST)).status_code == 200
    mine = intake.get("/v1/cases", params={"mine": "true"}, headers=token_for("ZX009")).json()
    assert [c["case_id"] for c in mine["items"]] == [case_id]
    # neither the first responder nor another colleague takes the handoff for the handler
    for other in (FIRST, "ZX006"):
        assert post(intake, case_id, "accept-handoff", None, token_for(other)).status_code == 403
    r = post(intake, case_id, "accept-handoff", {}, token_for("ZX008"))  # ZX-CJCK's chief
    assert r.status_code == 200 and r.json()["handler_id"] == "ZX008"
    referred, taken = events_of(url, case_id)[1:]
    assert referred["data"]["referral"]["unit_id"] is None  # not cross-unit
    assert taken["actor"] == "staff:ZX008"


@pytest.mark.parametrize(("body", "problem"), [
    ({"section_id": "RSJ-SBK", "handler_id": "ZX009"}, "is not in section"),
    ({"section_id": "RSJ-JYFW", "handler_id": "RSJ011"}, "not on duty"),
    ({"section_id": "NOPE", "handler_id": "RSJ008"}, "no section 'NOPE'"),
    ({"section_id": "RSJ-SBK", "handler_id": "NOBODY"}, "no staff member 'NOBODY'"),
    ({"section_id": "ZX-ZHSL", "handler_id": "ZX005"}, "referred to oneself"),
])
def test_internal_referral_needs_an_on_duty_handler_of_that_section(
        intake, token_for, url, body, problem):
    case_id = register(intake, token_for(FIRST))["case_id"]
    before = event_count(url)
    r = post(intake, case_id, "refer", {"kind": "internal", **body}, token_for(FIRST))
    assert r.status_code == 422 and problem in r.json()["detail"]
    assert event_count(url) == before


def test_external_referral_tells_exactly_where_to_go(intake, token_for, url):
    headers = token_for(FIRST)
    case_id = register(intake, headers)["case_id"]
    r = post(intake, case_id, "refer", {"kind": "external", "contact_person": "立案庭"}, headers)
    assert r.status_code == 422 and "missing body_name, address, contact_phone" in r.text
    r = post(intake, case_id, "refer", {"kind": "external", "body_id": "FY",
                                        "reason": "民事诉讼由法院立案庭受理"}, headers)
    assert r.status_code == 200 and r.json()["status"] == "referred_out"
    referral = events_of(url, case_id)[-1]["data"]["referral"]
    assert referral == {"kind": "external", "body_id": "FY", "body_name": "示范市人民法院",
                        "address": "示范市法院街1号诉讼服务中心", "contact_phone": "0935-8902200",
                        "contact_person": "立案庭 黄法官", "case_forwarded": False}

    other = register(intake, headers)["case_id"]
    explicit = {"kind": "external", "body_name": "示范市红十字会", "address": "示范市和平路3号",
                "contact_phone": "0935-8123000", "contact_person": "救助部 周主任"}
    assert post(intake, other, "refer", explicit, headers).status_code == 200


def test_accept_takes_the_time_limit_from_the_catalogue(intake, token_for, url):
    headers = token_for(FIRST)
    case_id = register(intake, headers)["case_id"]
    before = event_count(url)
    for body, problem in [
        ({**ACCEPT, "working_days": 16}, "may not exceed"),
        ({**ACCEPT, "matter_type_code": "NOPE-1"}, "not in the matter catalogue"),
        ({**ACCEPT, "matter_type_code": "EXT-03"}, "handled by an external body"),
        ({"handling_plan": "尽快办理"}, "working_days"),
    ]:
        r = post(intake, case_id, "accept", body, headers)
        assert r.status_code == 422 and problem in r.json()["detail"], body
    r = post(intake, case_id, "accept", {"matter_type_code": "RSJ-SBK-02", "on_the_spot": True},
             headers)
    assert r.status_code == 200 and r.json()["due_date"] == today().isoformat()
    assert event_count(url) == before + 1
    r = post(intake, case_id, "accept", ACCEPT, headers)
    assert r.status_code == 409 and "extension" in r.json()["detail"]


def test_one_time_notice_must_name_all_missing_materials_at_once(intake, token_for, url):
    headers = token_for(FIRST)
    case_id = register(intake, headers)["case_id"]
    first = {"missing_materials": [{"name": "居民身份证原件及复印件"},
                                   {"name": "近期免冠一寸彩色照片（白底）1张"}],
             "forms": [{"name": "《社会保障卡申领登记表》", "where": "综合受理窗口"}]}
    r = post(intake, case_id, "one-time-notice", first, headers)
    assert r.status_code == 200 and r.json()["status"] == "awaiting_materials"

    before = event_count(url)
    later = {"missing_materials": [{"name": "户口簿原件"}]}
    r = post(intake, case_id, "one-time-notice", later, headers)
    assert r.status_code == 409 and "户口簿原件" in r.json()["detail"]
    assert r.json()["case_status"] == "awaiting_materials"
    assert event_count(url) == before

    r = post(intake, case_id, "one-time-notice", {**later, "request_changed": True}, headers)
    assert r.status_code == 200
    assert events_of(url, case_id)[-1]["data"]["request_changed"] is True

    supplied = {"materials": ["居民身份证原件及复印件", "近期免冠一寸彩色照片（白底）1张",
                              "户口簿原件"], "complete": True}
    assert post(intake, case_id, "materials-supplied", supplied, headers).json()["status"] == (
        "received")
    assert post(intake, case_id, "accept", ACCEPT, headers).json()["status"] == "in_handling"


@pytest.mark.parametrize(("action", "body", "phrase"), [
    ("reply", {"answer": "这个事情不归我管，你问别人"}, "不归我管"),
    ("reply", {"answer": "Sorry, that's not my job."}, "not my job"),
    ("reply", {"answer": "已受理", "basis": "具体规定我也不知道"}, "不知道"),
    ("one-time-notice", {"missing_materials": [{"name": "证明"}],
                         "requirements": "你去找其他部门吧"}, "你去找其他部门吧"),
    ("refer", {"kind": "external", "body_id": "FY", "reason": "不清楚，你去法院问"}, "不清楚"),
])
def test_a_brush_off_is_refused_and_nothing_is_written(
        intake, token_for, url, action, body, phrase):
    case_id = register(intake, token_for(FIRST))["case_id"]
    before = event_count(url)
    r = post(intake, case_id, action, body, token_for(FIRST))
    assert r.status_code == 422
    assert phrase in r.json()["detail"] and "brush-off" in r.json()["detail"]
    assert event_count(url) == before


def test_a_polite_set_phrase_is_not_a_brush_off(intake, token_for):
    case_id = register(intake, token_for(FIRST))["case_id"]
    answer = {"answer": "社保卡可在二楼B区办理。如有不清楚的地方，请拨打0935-8100105。"}
    assert post(intake, case_id, "reply", answer, token_for(FIRST)).status_code == 200


def test_an_action_not_allowed_now_is_409_with_the_current_status(intake, token_for, url):
    case_id = register(intake, token_for(FIRST))["case_id"]
    before = event_count(url)
    r = post(intake, case_id, "deliver", {"method": "sms", "recipient_name": "王小明"},
             token_for(FIRST))
    assert r.status_code == 409
    assert r.json()["case_status"] == "received" and "received" in r.json()["detail"]
    assert event_count(url) == before


def test_a_stale_expected_version_is_409_and_writes_nothing(intake, token_for, url):
    headers = token_for(FIRST)
    case_id = register(intake, headers)["case_id"]
    assert post(intake, case_id, "reply", {**REPLY, "expected_version": 1}, headers
                ).status_code == 200
    before = event_count(url)
    r = post(intake, case_id, "complete",
             {"outcome": "resolved", "summary": "已办结", "expected_version": 1}, headers)
    assert r.status_code == 409 and r.json()["actual_version"] == 2
    assert event_count(url) == before


def test_escalation_goes_to_the_leader_the_directory_names(intake, token_for, url):
    case_id = register(intake, token_for(FIRST))["case_id"]
    for to, leader in [("section_chief", "ZX004"), ("supervising_leader", "ZX002"),
                       ("principal_leader", "ZX001")]:
        body = {"to": to, "reason": "unclear_jurisdiction", "details": "涉及多个部门，请领导协调"}
        assert post(intake, case_id, "escalate", body, token_for(FIRST)).status_code == 200
        assert events_of(url, case_id)[-1]["data"]["leader"]["id"] == leader
    detail = intake.get(f"/v1/cases/{case_id}", headers=token_for("ZX001")).json()
    assert detail["escalated_to"] == ["ZX004", "ZX002", "ZX001"]


def test_only_centre_leadership_approves_a_transfer_and_names_the_new_person(
        intake, token_for, url):
    case_id = register(intake, token_for(FIRST))["case_id"]
    ask = {"reason": "本人将外出培训两周", "proposed_responsible_id": "ZX006"}
    assert post(intake, case_id, "transfer-request", ask, token_for(FIRST)).status_code == 200
    approve = {"decision": "approve", "new_responsible_id": "ZX006"}
    before = event_count(url)
    for not_leadership in ("ZX004", "ZX006", FIRST, "ZX013"):
        r = post(intake, case_id, "transfer-decision", approve, token_for(not_leadership))
        assert r.status_code == 403, not_leadership
    assert event_count(url) == before

    r = post(intake, case_id, "transfer-decision", approve, token_for("ZX002"))
    assert r.status_code == 200
    assert (r.json()["responsible_id"], r.json()["handler_id"]) == ("ZX006", "ZX006")
    approved = events_of(url, case_id)[-1]
    assert approved["actor"] == "staff:ZX002"
    assert approved["data"]["new_responsible"] == {
        "id": "ZX006", "name": "赵鹏", "duty": "综合受理窗口工作人员，负责电话咨询接听和转办",
        "contact": "0935-8100106"}
    assert approved["data"]["approver"]["role"] == "supervising_leader"

    assert post(intake, case_id, "transfer-request", {"reason": "再次外出"}, token_for("ZX006")
                ).status_code == 200
    reject = {"decision": "reject", "reason": "请按期办结"}
    assert post(intake, case_id, "transfer-decision", reject, token_for("ZX001")).json()[
        "responsible_id"] == "ZX006"


def test_a_unit_leader_decides_an_extension_the_handler_asked_for(intake, token_for, url):
    headers = token_for(FIRST)
    case_id = register(intake, headers)["case_id"]
    due = date.fromisoformat(post(intake, case_id, "accept", ACCEPT, headers).json()["due_date"])
    later = (due + timedelta(days=10)).isoformat()
    r = post(intake, case_id, "extension-request",
             {"reason": "需省厅核验", "proposed_due_date": due.isoformat()}, headers)
    assert r.status_code == 422 and "after the current due date" in r.json()["detail"]
    ask = {"reason": "需省厅核验身份信息", "proposed_due_date": later}
    assert post(intake, case_id, "extension-request", ask, headers).status_code == 200
    grant = {"decision": "grant", "reason": "需省厅核验，延期10天"}
    assert post(intake, case_id, "extension-decision", grant, token_for("ZX006")
                ).status_code == 403
    r = post(intake, case_id, "extension-decision", grant, token_for("ZX004"))
    assert r.status_code == 200 and r.json()["due_date"] == later
    granted = events_of(url, case_id)[-1]
    assert granted["actor"] == "staff:ZX004"
    assert granted["data"]["approver"] == {"id": "ZX004", "role": "section_head", "name": "张晓燕"}


def test_an_extension_is_bounded_by_the_original_time_limit_once_more(intake, token_for, url):
    """9999-12-31 once stopped every deadline in the city: refused, naming field and bound."""
    headers = token_for(FIRST)
    case_id = register(intake, headers)["case_id"]
    accepted = post(intake, case_id, "accept", ACCEPT, headers)
    due = date.fromisoformat(accepted.json()["due_date"])
    latest = due + (due - today())  # accepted today: the original limit once more
    before = event_count(url)
    for proposed in ("9999-12-31", (latest + timedelta(days=1)).isoformat()):
        r = post(intake, case_id, "extension-request",
                 {"reason": "需核验", "proposed_due_date": proposed}, headers)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert f"proposed_due_date: at most {latest.isoformat()}" in r.json()["detail"]
    assert event_count(url) == before
    ask = {"reason": "需省厅核验身份信息", "proposed_due_date": latest.isoformat()}
    assert post(intake, case_id, "extension-request", ask, headers).status_code == 200
    r = post(intake, case_id, "extension-decision", {"decision": "grant", "reason": "延期",
             "new_due_date": "9999-12-31"}, token_for("ZX004"))
    assert r.status_code == 422 and "new_due_date: at most" in r.json()["detail"]
    r = post(intake, case_id, "extension-decision", {"decision": "grant", "reason": "延期"},
             token_for("ZX004"))
    assert r.status_code == 200 and r.json()["due_date"] == latest.isoformat()


def test_pick_up_delivery_writes_the_pick_up_record(intake, token_for, url):
    headers = token_for(FIRST)
    case_id = register(intake, headers)["case_id"]
    for action, body in [("accept", ACCEPT), ("complete", {"outcome": "resolved",
                                                           "summary": "已制卡"})]:
        assert post(intake, case_id, action, body, headers).status_code == 200
    r = post(intake, case_id, "deliver", {"method": "pick_up", "recipient_name": "王小明"},
             headers)
    assert r.status_code == 422 and "pickup" in r.text
    picked_up: dict[str, Any] = {"method": "pick_up", "recipient_name": "王小明",
            "pickup": {"collector_name": "王大明", "collector_id_number": "62010219800101123x",
                       "by_proxy": True}}
    assert post(intake, case_id, "deliver", picked_up, headers).status_code == 200
    record = events_of(url, case_id)[-1]["data"]["pickup_record"]
    assert record["collector_name"] == "王大明" and record["by_proxy"] is True
    assert record["collector_id_number"] == "62010219800101123X"
    assert record["record_number"].startswith("PU-SW")


def test_the_list_is_scoped_filtered_and_paginated(intake, token_for):
    ids = [register(intake, token_for(FIRST))["case_id"] for _ in range(3)]
    register(intake, token_for("SWJ005"), PHONE_CALL)
    assert post(intake, ids[0], "reply", REPLY, token_for(FIRST)).status_code == 200

    page = intake.get("/v1/cases", params={"limit": 2}, headers=token_for(FIRST)).json()
    assert page["total"] == 3 and [c["case_id"] for c in page["items"]] == ids[::-1][:2]
    rest = intake.get("/v1/cases", params={"limit": 2, "offset": 2},
                      headers=token_for(FIRST)).json()
    assert [c["case_id"] for c in rest["items"]] == [ids[0]]
    replied = intake.get("/v1/cases", params={"status": "replied"},
                         headers=token_for(FIRST)).json()
    assert [c["case_id"] for c in replied["items"]] == [ids[0]]
    item = replied["items"][0]
    assert (item["handler_name"], item["due_date"]) == ("李娜", None)
    assert item["receipt_number"].startswith("SW")
    assert intake.get("/v1/cases", params={"mine": "true"}, headers=token_for("ZX006")
                      ).json()["total"] == 0
    assert intake.get("/v1/cases", headers=token_for("ZX006")).json()["total"] == 3
    assert intake.get("/v1/cases", headers=token_for("SWJ005")).json()["total"] == 1
    assert intake.get("/v1/cases", headers=token_for("ZX011")).json()["total"] == 4
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"status": "lost"}):
        r = intake.get("/v1/cases", params=bad, headers=token_for(FIRST))
        assert r.status_code == 422 and next(iter(bad)) in r.text


def test_concurrent_replies_one_wins_the_others_get_409(intake, token_for, url):
    headers = token_for(FIRST)
    case_id = register(intake, headers)["case_id"]
    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(lambda _: post(intake, case_id, "reply", REPLY, headers)
                              .status_code, range(6)))
    assert sorted(codes) == [200] + [409] * 5
    assert [e["type"] for e in events_of(url, case_id)] == ["received", "replied"]
