"""The staff console over HTTP (TestClient), on a real PostgreSQL with the demo directory.

The console is a shell over the same commands as the JSON API: these tests sign in with the
development sign-in form, post the forms a browser would, and read the event store to see
exactly what was (or was not) written. People: see tests/integration/intake_helpers.py.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.settings import Settings
from services.intake.app import create_app
from tests.integration.intake_helpers import FIRST, event_count, events_of, register

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
WALK_IN_FORM = {
    "channel": "visit",
    "inquirer_name": "王小明",
    "inquirer_phone": "13912345678",
    "inquirer_address": "示范市和平路12号",
    "inquirer_work_unit": "",
    "inquirer_id_number": "",
    "inquirer_email": "",
    "matter": "想办理社会保障卡，需要带什么材料",
}


@pytest.fixture
def url(db_settings: Settings) -> str:
    return str(db_settings.database_url)
LATER = str(date.today() + timedelta(days=35))  # after the 15-working-day limit, within it again


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, staff_id: str) -> str:
    """Sign in with the development form; the CSRF token of the page it lands on."""
    page = client.get("/console/sign-in")
    assert page.status_code == 200, page.text
    r = client.post("/console/sign-in", data={"csrf": csrf_of(page.text), "staff_id": staff_id,
                                              "next": "/console/register"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/register", r.text
    landing = client.get("/console/register")
    assert landing.status_code == 200
    return csrf_of(landing.text)


def register_by_form(client: TestClient, csrf: str, form: dict[str, str] | None = None) -> Any:
    return client.post("/console/register", data={"csrf": csrf, **(form or WALK_IN_FORM)})


def case_id_of(page: str) -> str:
    found = re.search(r'href="/console/cases/(C-[0-9a-f]{32})"', page)
    assert found, "no link to the case"
    return found.group(1)


def test_without_a_session_every_page_sends_you_to_sign_in(intake):
    for path in ("/console/cases", "/console/register", "/console/leader",
                 "/console/cases/C-00000000000000000000000000000000"):
        r = intake.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/console/sign-in?next=%2Fconsole%2F")


def test_sign_in_sets_a_strict_httponly_cookie_on_the_console_path(intake):
    page = intake.get("/console/sign-in")
    r = intake.post("/console/sign-in", data={"csrf": csrf_of(page.text), "staff_id": FIRST},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/cases"
    cookie = next(c for c in r.headers.get_list("set-cookie")
                  if c.startswith("shouwen_console="))
    attrs = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/console"} <= attrs
    assert "secure" not in attrs  # development over plain http; Secure everywhere else
    assert "李娜" in intake.get("/console/cases").text


def test_sign_in_refuses_an_unknown_staff_id_and_a_missing_csrf(intake):
    page = intake.get("/console/sign-in")
    r = intake.post("/console/sign-in", data={"csrf": csrf_of(page.text), "staff_id": "NOPE1"})
    assert r.status_code == 422 and "NOPE1" in r.text
    r = intake.post("/console/sign-in", data={"staff_id": FIRST}, follow_redirects=False)
    assert r.status_code == 403
    assert intake.get("/console/cases", follow_redirects=False).status_code == 303


def test_a_forged_or_expired_cookie_is_sent_back_to_sign_in(intake, db_settings):
    from services.common.auth import issue_token

    for token in ("not-a-jwt", issue_token(db_settings, FIRST, ttl=-60)):
        intake.cookies.set("shouwen_console", token, path="/console")
        r = intake.get("/console/cases", follow_redirects=False)
        assert r.status_code == 303
        assert "reason=expired" in r.headers["location"]


def test_the_development_sign_in_is_refused_outside_development(db_settings, demo_directory):
    settings = db_settings.model_copy(update={"environment": "production",
                                               "jwks_url": "https://idp.invalid/jwks"})
    with TestClient(create_app(settings)) as client:
        assert client.get("/console/sign-in").status_code == 403
        r = client.post("/console/sign-in", data={"csrf": "x", "staff_id": FIRST})
        assert r.status_code == 403 and "identity provider" in r.text
        assert "shouwen_console=" not in r.headers.get("set-cookie", "")


def test_register_by_form_shows_the_receipt_with_the_first_responder(intake, url):
    csrf = sign_in(intake, FIRST)
    r = register_by_form(intake, csrf)
    assert r.status_code == 200, r.text
    receipt = re.search(r'id="receipt-number"[^>]*>(SW\d{14})<', r.text)
    code = re.search(r'id="access-code"[^>]*>([2-9A-Z]{10})<', r.text)
    assert receipt and code
    for told in ("李娜", "综合受理窗口工作人员", "0935-8100105", "示范市政务服务中心"):
        assert told in r.text
    assert r.headers["cache-control"] == "no-store"

    [received] = events_of(url, case_id_of(r.text))
    assert received["type"] == "received" and received["actor"] == "staff:ZX005"
    assert received["data"]["receipt_number"] == receipt.group(1)
    assert received["data"]["channel"] == "visit"
    assert received["data"]["inquirer_phone"] == "13912345678"


def test_a_refused_registration_keeps_the_form_and_writes_nothing(intake, url):
    csrf, before = sign_in(intake, FIRST), event_count(url)  # the directory load is one
    r = register_by_form(intake, csrf, {**WALK_IN_FORM, "channel": "phone",
                                        "inquirer_phone": ""})
    assert r.status_code == 422
    assert "inquirer_phone" in r.text and "ledger" in r.text
    assert 'value="王小明"' in r.text and "想办理社会保障卡" in r.text
    assert event_count(url) == before


def test_a_post_without_the_csrf_token_is_refused_and_writes_nothing(intake, url):
    csrf, before = sign_in(intake, FIRST), event_count(url)
    assert register_by_form(intake, "").status_code == 403
    assert register_by_form(intake, "0" * 64).status_code == 403
    assert event_count(url) == before

    case_id = case_id_of(register_by_form(intake, csrf).text)
    r = intake.post(f"/console/cases/{case_id}/reply", data={"answer": "已为您办理"})
    assert r.status_code == 403
    assert [e["type"] for e in events_of(url, case_id)] == ["received"]


def test_another_units_case_is_not_found(intake, token_for, url):
    tax_case = register(intake, token_for("SWJ005"))["case_id"]
    csrf = sign_in(intake, FIRST)
    r = intake.get(f"/console/cases/{tax_case}")
    assert r.status_code == 404
    assert "王小明" not in r.text
    r = intake.post(f"/console/cases/{tax_case}/reply",
                    data={"csrf": csrf, "answer": "已为您办理完毕"})
    assert r.status_code == 404
    assert len(events_of(url, tax_case)) == 1


def test_a_brush_off_reply_is_refused_on_the_page_and_writes_nothing(intake, url):
    csrf = sign_in(intake, FIRST)
    case_id = case_id_of(register_by_form(intake, csrf).text)
    page = intake.get(f"/console/cases/{case_id}")
    version = re.search(r'name="expected_version" value="(\d+)"', page.text)
    assert version and 'id="action-reply"' in page.text

    brush_off = "这事不归我管，你去找其他部门吧"
    r = intake.post(f"/console/cases/{case_id}/reply",
                    data={"csrf": csrf_of(page.text), "expected_version": version.group(1),
                          "answer": brush_off, "basis": ""})
    assert r.status_code == 422
    assert 'role="alert"' in r.text and "brush-off" in r.text and "不归我管" in r.text
    assert f">{brush_off}</textarea>" in r.text  # the form comes back as filled in
    assert '<details class="action" id="action-reply" open>' in r.text
    assert [e["type"] for e in events_of(url, case_id)] == ["received"]


def test_an_action_the_status_does_not_allow_is_shown_as_409(intake, url):
    csrf = sign_in(intake, FIRST)
    case_id = case_id_of(register_by_form(intake, csrf).text)
    r = intake.post(f"/console/cases/{case_id}/complete",
                    data={"csrf": csrf, "outcome": "resolved", "summary": "已办结"})
    assert r.status_code == 409
    assert "not allowed while the case is received" in r.text
    assert [e["type"] for e in events_of(url, case_id)] == ["received"]


def test_refer_then_the_handler_sees_it_in_my_cases_and_accepts(intake, url):
    csrf = sign_in(intake, FIRST)
    case_id = case_id_of(register_by_form(intake, csrf).text)
    r = intake.post(f"/console/cases/{case_id}/refer-internal", follow_redirects=False,
                    data={"csrf": csrf, "expected_version": "1", "section_id": "RSJ-SBK",
                          "handler_id": "RSJ008", "handler_present": "true",
                          "reason": "社保卡由人社局社会保障卡服务股谢丹丹办理"})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/console/cases/{case_id}?done=refer-internal"

    csrf = sign_in(intake, "RSJ008")
    mine = intake.get("/console/cases").text
    assert f'href="/console/cases/{case_id}"' in mine and "待我接办" in mine
    assert 'id="action-accept-handoff"' in intake.get(f"/console/cases/{case_id}").text
    r = intake.post(f"/console/cases/{case_id}/accept-handoff",
                    data={"csrf": csrf, "expected_version": "2"})
    assert r.status_code == 200 and "已办理 Done" in r.text
    steps = [(e["type"], e["actor"]) for e in events_of(url, case_id)]
    assert steps == [("received", "staff:ZX005"), ("referred", "staff:ZX005"),
                     ("handoff_accepted", "staff:RSJ008")]


def test_a_stale_form_is_refused_with_the_case_moved_on(intake, url):
    csrf = sign_in(intake, FIRST)
    case_id = case_id_of(register_by_form(intake, csrf).text)
    r = intake.post(f"/console/cases/{case_id}/escalate",
                    data={"csrf": csrf, "expected_version": "7", "to": "section_chief",
                          "reason": "unclear_jurisdiction"})
    assert r.status_code == 409 and "changed meanwhile" in r.text
    assert len(events_of(url, case_id)) == 1


def test_inquirer_text_is_escaped(intake):
    csrf = sign_in(intake, FIRST)
    evil = "<script>alert(1)</script>"
    page = register_by_form(intake, csrf, {**WALK_IN_FORM, "inquirer_name": evil,
                                           "matter": f"{evil} 咨询社保卡"})
    case_page = intake.get(f"/console/cases/{case_id_of(page.text)}").text
    assert evil not in case_page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in case_page


def test_the_leader_queue_shows_a_transfer_request_and_approves_it(intake, url):
    csrf = sign_in(intake, FIRST)
    case_id = case_id_of(register_by_form(intake, csrf).text)
    r = intake.post(f"/console/cases/{case_id}/transfer-request", follow_redirects=False,
                    data={"csrf": csrf, "reason": "本人需外出培训一周，申请由赵鹏接续负责",
                          "proposed_responsible_id": "ZX006"})
    assert r.status_code == 303, r.text
    assert intake.get("/console/leader").status_code == 403  # a clerk has no queue

    csrf = sign_in(intake, "ZX001")  # the centre's principal leader
    queue = intake.get("/console/leader").text
    assert f'href="/console/cases/{case_id}"' in queue and "外出培训" in queue
    assert 'id="action-transfer-decision"' in intake.get(f"/console/cases/{case_id}").text
    r = intake.post(f"/console/cases/{case_id}/transfer-decision", follow_redirects=False,
                    data={"csrf": csrf, "back": "leader", "decision": "approve",
                          "new_responsible_id": "ZX006"})
    assert r.status_code == 303 and r.headers["location"] == "/console/leader"
    steps = [(e["type"], e["actor"]) for e in events_of(url, case_id)]
    assert steps[-2:] == [("transfer_requested", "staff:ZX005"),
                          ("transfer_approved", "staff:ZX001")]
    assert f'href="/console/cases/{case_id}"' not in intake.get("/console/leader").text


def test_a_case_runs_its_whole_course_through_the_forms(intake, url):
    csrf = sign_in(intake, FIRST)
    case_id = case_id_of(register_by_form(intake, csrf).text)

    def act(action: str, form: dict[str, str], csrf: str, back: str = "") -> None:
        r = intake.post(f"/console/cases/{case_id}/{action}", follow_redirects=False,
                        data={"csrf": csrf, **form, **({"back": back} if back else {})})
        assert r.status_code == 303, f"{action}: {r.status_code} {r.text[:2000]}"

    act("one-time-notice", {"missing_materials": "居民身份证 | 原件及复印件\n近期一寸白底照片",
                            "forms": "社会保障卡申领表 | 综合受理窗口"}, csrf)
    act("materials-supplied", {"materials": "居民身份证\n近期一寸白底照片",
                               "complete": "true"}, csrf)
    act("accept", {"matter_type_code": "RSJ-SBK-01",
                   "handling_plan": "材料齐全，15个工作日内制卡，短信通知领取"}, csrf)
    act("extension-request",
        {"reason": "制卡银行系统升级，需顺延", "proposed_due_date": LATER}, csrf)

    chief = sign_in(intake, "ZX004")  # chief of the clerk's section: leads the case's unit
    assert 'id="action-extension-decision"' in intake.get(f"/console/cases/{case_id}").text
    queue = intake.get("/console/leader").text
    assert "制卡银行系统升级" in queue and LATER in queue
    act("extension-decision", {"decision": "grant", "reason": "因银行系统升级顺延，已电话告知"},
        chief, back="leader")

    csrf = sign_in(intake, FIRST)
    act("reply", {"answer": "您的社会保障卡已制作完成，请携带身份证到出件窗口领取"}, csrf)
    act("complete", {"outcome": "resolved", "summary": "社会保障卡已制作完成"}, csrf)
    act("deliver", {"method": "pick_up", "recipient_name": "王小明",
                    "pickup_collector_name": "王小明"}, csrf)
    act("close", {"reason": "completed"}, csrf)

    events = events_of(url, case_id)
    assert [(e["type"], e["actor"]) for e in events] == [
        ("received", "staff:ZX005"), ("one_time_notice_given", "staff:ZX005"),
        ("materials_supplied", "staff:ZX005"), ("accepted", "staff:ZX005"),
        ("extension_requested", "staff:ZX005"), ("extension_granted", "staff:ZX004"),
        ("replied", "staff:ZX005"), ("completed", "staff:ZX005"),
        ("result_delivered", "staff:ZX005"), ("closed", "staff:ZX005")]
    notice = events[1]["data"]
    assert notice["missing_materials"] == [
        {"name": "居民身份证", "requirements": "原件及复印件", "form": None},
        {"name": "近期一寸白底照片", "requirements": None, "form": None}]
    assert notice["forms"] == [{"name": "社会保障卡申领表", "where": "综合受理窗口"}]
    assert events[5]["data"]["new_due_date"] == LATER
    assert events[8]["data"]["pickup_record"]["collector_name"] == "王小明"

    page = intake.get(f"/console/cases/{case_id}").text
    assert page.count('<tr class="event event-') == len(events)
    assert "当前没有您可办理的操作" in page and 'id="action-' not in page  # closed
