"""Citizens' side of intake over HTTP, against a real PostgreSQL with the demo directory.

Cases are opened with ``register_inquiry`` and moved along by appending staff events
directly, so these tests depend only on the repository, not on the staff API.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from events import EventPayload, new_event
from events.case import CaseAccepted, MissingMaterial, OneTimeNoticeGiven, TimeLimit
from events.case_outcome import CaseReplied
from events.case_referral import (
    CaseEscalated,
    CaseReferred,
    EscalationReason,
    ExternalReferral,
    LeaderRef,
    TransferRequested,
)
from events.fields import Channel, LeaderRole, StaffMember
from services.common.settings import Settings
from services.intake.ratelimit import SlidingWindowLimiter
from services.intake.register import Inquiry, Receipt, register_inquiry
from services.web.deps import Wiring

PHONE, ID_NUMBER, NAME = "13912345678", "620102199001011234", "王小明"
SECRET_PLAN = "内部安排：先查历史档案再说"
SECRET_ESCALATION = "领导批示：此人多次来访需注意"
SECRET_TRANSFER = "我手头太忙想换人"


def wiring(client: TestClient) -> Wiring:
    w: Wiring = client.app.state.wiring  # type: ignore[attr-defined]
    return w


def open_case(client: TestClient, staff_id: str = "ZX005", name: str = NAME) -> Receipt:
    w = wiring(client)
    person = w.directory.get().person(staff_id)  # type: ignore[union-attr]
    assert person is not None
    inquiry = Inquiry(channel=Channel.phone, matter="社保卡丢了怎么补办", inquirer_name=name,
                      inquirer_phone=PHONE, inquirer_address="示范市新华路1号3单元",
                      inquirer_id_number=ID_NUMBER)
    with w.pool.connection() as conn, conn.transaction():
        return register_inquiry(w.repo, conn, person, inquiry)


def act(client: TestClient, receipt: Receipt, staff_id: str, payload: EventPayload) -> None:
    w = wiring(client)
    with w.pool.connection() as conn, conn.transaction():
        state = w.repo.load(receipt.case_id, conn)
        event = new_event(payload, subject=receipt.case_id, actor=f"staff:{staff_id}")
        w.repo.append(state, [event], conn)


def member(client: TestClient, staff_id: str) -> StaffMember:
    p = wiring(client).directory.get().person(staff_id)  # type: ignore[union-attr]
    assert p is not None
    return StaffMember(id=p.staff.id, name=p.staff.name, duty=p.staff.duty,
                       contact=p.staff.contact)


def events_of(client: TestClient, receipt: Receipt) -> list[Any]:
    return [r.event for r in wiring(client).repo.store.read_stream(receipt.case_id)]


def access(receipt: Receipt, **more: Any) -> dict[str, Any]:
    return {"receipt_number": receipt.receipt_number, "access_code": receipt.access_code, **more}


def reply(client: TestClient, receipt: Receipt) -> None:
    act(client, receipt, "ZX005", CaseReplied(answer="请携带身份证到社保卡窗口补办",
                                              channel=Channel.phone))


def test_status_shows_the_case_and_no_staff_only_fields(intake: TestClient) -> None:
    receipt = open_case(intake)
    due = date.today() + timedelta(days=7)
    act(intake, receipt, "ZX006", CaseAccepted(
        handler=member(intake, "ZX006"), section_id="ZX-ZHSL", handling_plan=SECRET_PLAN,
        time_limit=TimeLimit(working_days=5, due_date=due)))
    act(intake, receipt, "ZX006", CaseEscalated(
        leader=LeaderRef(id="ZX002", role=LeaderRole.supervising_leader),
        reason=EscalationReason.other, details=SECRET_ESCALATION))
    act(intake, receipt, "ZX006", TransferRequested(reason=SECRET_TRANSFER))

    r = intake.post("/v1/public/status", json=access(receipt))

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["receipt_number"] == receipt.receipt_number
    assert body["status"] == "in_handling" and body["due_date"] == due.isoformat()
    assert body["responsible"] == {"name": receipt.first_responder_name,
                                   "duty": receipt.first_responder_duty,
                                   "contact": receipt.first_responder_contact}
    handler = member(intake, "ZX006")
    assert body["handler"] == {"name": handler.name, "duty": handler.duty,
                               "contact": handler.contact}
    assert [s["step"] for s in body["steps"]] == ["received", "accepted", "escalated"]
    text = r.text
    for secret in (PHONE, ID_NUMBER, NAME, "新华路1号", SECRET_PLAN, SECRET_ESCALATION,
                   SECRET_TRANSFER, "ZX005", "ZX006", "ZX002", receipt.case_id,
                   receipt.access_code):
        assert secret not in text, f"{secret!r} leaked into the public status"


def test_wrong_code_and_another_citizens_receipt_get_the_same_404(intake: TestClient) -> None:
    mine, theirs = open_case(intake), open_case(intake, name="李四")
    denied = REGISTRY.get_sample_value("shouwen_public_access_denied_total",
                                       {"endpoint": "status"}) or 0.0
    attempts = [
        {"receipt_number": theirs.receipt_number, "access_code": mine.access_code},
        {"receipt_number": mine.receipt_number, "access_code": "WRONGCODE2"},
        {"receipt_number": "SW19990101999999", "access_code": mine.access_code},
    ]
    answers = [intake.post("/v1/public/status", json=a) for a in attempts]

    assert [a.status_code for a in answers] == [404, 404, 404]
    assert len({a.content for a in answers}) == 1
    assert "李四" not in answers[0].text
    after = REGISTRY.get_sample_value("shouwen_public_access_denied_total",
                                      {"endpoint": "status"})
    assert after == denied + 3
    assert intake.post("/v1/public/status", json=access(mine)).status_code == 200


def test_rating_is_appended_once_with_the_inquirer_as_actor(intake: TestClient) -> None:
    receipt = open_case(intake)
    reply(intake, receipt)
    rating = access(receipt, level="基本满意", comment="答复及时", anonymous=True)

    first = intake.post("/v1/public/rating", json=rating)
    second = intake.post("/v1/public/rating", json={**rating, "level": "非常不满意"})

    assert first.status_code == 201, first.text
    events = events_of(intake, receipt)
    rated = [e for e in events if e.type == "shouwen.case.rated.v2"]
    assert len(rated) == 1
    assert rated[0].actor == f"inquirer:{receipt.receipt_number}"
    assert rated[0].data == {"level": "基本满意", "comment": "答复及时", "anonymous": True}
    assert rated[0].correlationid == events[0].id
    assert second.status_code == 409 and "already rated" in second.json()["detail"]
    status = intake.post("/v1/public/status", json=access(receipt)).json()
    assert status["rated"] is True and status["steps"][-1]["note"] == "基本满意"


def test_rating_before_the_case_allows_it_is_409_with_its_status(intake: TestClient) -> None:
    receipt = open_case(intake)
    r = intake.post("/v1/public/rating", json=access(receipt, level="满意"))
    assert r.status_code == 409
    assert r.json()["case_status"] == "received"
    assert len(events_of(intake, receipt)) == 1


@pytest.mark.parametrize("bad", [
    {"level": "还行"},  # not one of the five levels
    {"level": "满意", "actor": "staff:ZX005"},  # mass assignment
    {"level": "满意", "comment": "x" * 1001},
])
def test_bad_ratings_are_refused_and_nothing_is_written(intake: TestClient,
                                                        bad: dict[str, Any]) -> None:
    receipt = open_case(intake)
    reply(intake, receipt)
    r = intake.post("/v1/public/rating", json=access(receipt, **bad))
    assert r.status_code == 422
    assert len(events_of(intake, receipt)) == 2


def test_complaint_is_appended_against_the_responsible_person(intake: TestClient) -> None:
    receipt = open_case(intake)
    r = intake.post("/v1/public/complaints", json=access(
        receipt, complaint="电话里态度冷淡，说不归他管", contact_phone="13800001111"))

    assert r.status_code == 201, r.text
    filed = events_of(intake, receipt)[-1]
    assert filed.type == "shouwen.case.complaint_filed.v1"
    assert filed.actor == f"inquirer:{receipt.receipt_number}"
    assert filed.data["against_staff_id"] == "ZX005"
    assert filed.data["against_unit_id"] == "ZWFWZX"
    assert filed.data["complaint"] == "电话里态度冷淡，说不归他管"
    assert filed.data["channel"] == "online"


def test_complaint_only_against_someone_who_held_the_case(intake: TestClient) -> None:
    receipt = open_case(intake)
    r = intake.post("/v1/public/complaints",
                    json=access(receipt, complaint="投诉", against_staff_id="RSJ008"))
    assert r.status_code == 400 and "against_staff_id" in r.json()["detail"]
    assert len(events_of(intake, receipt)) == 1


def test_public_endpoints_are_rate_limited_per_address(
    db_settings: Settings, demo_directory: object
) -> None:
    from services.intake.app import create_app

    limited = db_settings.model_copy(update={"public_rate_limit_per_minute": 3})
    with TestClient(create_app(limited)) as client:
        receipt = open_case(client)
        codes = [client.post("/v1/public/status", json=access(receipt)).status_code
                 for _ in range(3)]
        refused = client.post("/v1/public/rating", json=access(receipt, level="满意"))

    assert codes == [200, 200, 200]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert len(json.dumps(refused.json())) < 200


def test_the_window_slides() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(2, window=60, clock=lambda: now[0])
    assert limiter.acquire("a") == 0
    now[0] = 30.0
    assert limiter.acquire("a") == 0
    now[0] = 40.0
    assert limiter.acquire("a") == pytest.approx(20.0)  # until the hit at 0 leaves
    assert limiter.acquire("b") == 0  # another address has its own budget
    now[0] = 60.5
    assert limiter.acquire("a") == 0  # the hit at 0 left the window; the refusal never counted
    assert limiter.acquire("a") == pytest.approx(29.5)
    assert SlidingWindowLimiter(0).acquire("a") == 0  # 0 turns the limit off


def test_status_tells_the_missing_materials_and_where_to_go(intake: TestClient) -> None:
    notice, referral = open_case(intake), open_case(intake)
    act(intake, notice, "ZX005", OneTimeNoticeGiven(
        missing_materials=[MissingMaterial(name="居民身份证原件"),
                           MissingMaterial(name="户口簿原件")], notified_via=Channel.phone))
    act(intake, referral, "ZX005", CaseReferred(reason="护照由出入境管理部门办理", referral=
        ExternalReferral(kind="external", body_name="示范市公安局出入境管理支队",
                         address="示范市公园路9号", contact_phone="0935-8901100",
                         contact_person="受理科 郑警官")))

    waiting = intake.post("/v1/public/status", json=access(notice)).json()
    sent = intake.post("/v1/public/status", json=access(referral)).json()

    assert waiting["status"] == "awaiting_materials"
    assert waiting["missing_materials"] == ["居民身份证原件", "户口簿原件"]
    assert sent["status"] == "referred_out"
    assert sent["referred_to"] == {"name": "示范市公安局出入境管理支队",
                                   "address": "示范市公园路9号", "phone": "0935-8901100",
                                   "contact_person": "受理科 郑警官"}
    assert "护照由出入境管理部门办理" in sent["steps"][-1]["note"]
