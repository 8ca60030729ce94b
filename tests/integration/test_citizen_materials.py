"""The citizen supplies materials themselves (issue 14, item 6), over HTTP.

After a one-time notice the inquirer, with the receipt number and access code, marks listed
materials supplied with a note and attachment references (POST /v1/public/materials); the
case's handler is told in-app (the notification rules plan it, the template renders); the
case resumes once everything listed is in; a case takes at most a few submissions an hour.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from services.notification.planner import Planner
from services.notification.render import Renderer
from services.notification.settings import NotifySettings
from tests.integration.intake_helpers import ACCEPT, FIRST, events_of, post, register

NOTICE = {"missing_materials": [{"name": "身份证复印件"}, {"name": "户口簿"},
                                {"name": "一寸照片"}]}


def noticed(intake: TestClient, token_for: Any) -> dict[str, Any]:
    receipt = register(intake, token_for(FIRST))
    for action, body in (("accept", ACCEPT), ("one-time-notice", NOTICE)):
        assert post(intake, receipt["case_id"], action, body, token_for(FIRST)).status_code \
            == 200
    return receipt


def supply(intake: TestClient, receipt: dict[str, Any], materials: list[str],
           **more: Any) -> Any:
    return intake.post("/v1/public/materials", json={
        "receipt_number": receipt["receipt_number"], "access_code": receipt["access_code"],
        "materials": materials, **more})


def test_the_inquirer_supplies_listed_materials_and_the_handler_is_told(
        intake, token_for, database_url):
    receipt = noticed(intake, token_for)
    access = {"receipt_number": receipt["receipt_number"], "access_code": receipt["access_code"]}
    wrong = {**access, "access_code": "WRONGCODE1", "materials": ["户口簿"]}
    assert intake.post("/v1/public/materials", json=wrong).status_code == 404
    r = supply(intake, receipt, ["营业执照"])
    assert r.status_code == 400 and "营业执照" in r.text

    r = supply(intake, receipt, ["身份证复印件", "一寸照片"], note="已扫描上传，照片为白底",
               attachments=["UPLOAD-7731", "UPLOAD-7732"])
    assert r.status_code == 201, r.text
    event = events_of(database_url, receipt["case_id"])[-1]
    assert event["type"] == "materials_supplied"
    assert event["actor"] == f"inquirer:{receipt['receipt_number']}"
    d = event["data"]
    assert (d["complete"], d["outstanding"], d["check_by_id"]) == (False, ["户口簿"], FIRST)
    assert d["attachments"] == ["UPLOAD-7731", "UPLOAD-7732"]
    status = intake.post("/v1/public/status", json=access).json()
    assert status["status"] == "awaiting_materials" and status["missing_materials"] == ["户口簿"]

    # the handler is told in-app: the notification consumer's planner, then the template
    pool = intake.app.state.wiring.pool  # type: ignore[attr-defined]
    stream = [r.event for r in intake.app.state.wiring.repo.store.read_stream(  # type: ignore[attr-defined]
        receipt["case_id"])]
    with pool.connection() as conn, conn.transaction():
        Planner(NotifySettings(), lambda: None).handle_batch(conn, stream[-1:])
        rows = conn.execute("SELECT recipient, channel, template, context FROM "
                            "notification_deliveries WHERE source_event_id = %s",
                            (stream[-1].id,)).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [(f"staff:{FIRST}", "in_app",
                                                   "staff/materials_supplied")]
    text = Renderer().render("staff/materials_supplied", "zh-CN",
                             {**rows[0][3], "recipient": {"name": "李娜", "id": FIRST}}).body
    assert "身份证复印件、一寸照片" in text and "尚缺：户口簿" in text and "UPLOAD-7731" in text

    r = supply(intake, receipt, ["户口簿"])
    assert r.status_code == 201
    assert events_of(database_url, receipt["case_id"])[-1]["data"]["complete"] is True
    status = intake.post("/v1/public/status", json=access).json()
    assert status["status"] == "in_handling" and status["missing_materials"] == []
    assert supply(intake, receipt, ["户口簿"]).status_code == 409  # nothing awaited now


def test_a_case_takes_at_most_three_submissions_an_hour(intake, token_for, database_url):
    receipt = noticed(intake, token_for)
    for _ in range(3):
        assert supply(intake, receipt, ["户口簿"]).status_code == 201
    r = supply(intake, receipt, ["户口簿"])
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    supplied = [e for e in events_of(database_url, receipt["case_id"])
                if e["type"] == "materials_supplied"]
    assert len(supplied) == 3
