"""Evaluation over HTTP against the event store, numbers checked by hand.

ZX005 李娜 (unit ZWFWZX) is responsible for 22 cases this year, ZX006 赵鹏 for one:

    cases   replied  completed (resolved)  rated                         deadlines
    1..20   yes      1..5 (1..4 resolved)  10 非常满意 6 满意 4 不满意      1..3 reply met on time,
    21, 22  no       -                     -                              4 complete breached
    ZX006   yes      -                     非常满意

    ZX005: rating (10×100 + 6×80 + 4×30) / 20 = 80; assessment 95 → 0.6×95 + 0.4×80 = 89 合格
           response 20/22 = 0.9091, resolution 4/5 = 0.8, satisfaction 16/20 = 0.8,
           on time 3/4 = 0.75
    ZWFWZX: 23 cases received, 21 ratings → rating (11×100 + 6×80 + 4×30)/21 = 80.95;
            no assessment → no score
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from events import EventPayload, new_event
from events.case_outcome import CaseCompleted, CaseRated, CaseReplied, Outcome
from events.case_outcome import SatisfactionLevel as L
from events.deadline import DeadlineBreached, DeadlineMet, Obligation
from events.fields import Channel
from services.calendar.builtin import today
from services.intake.register import Inquiry, register_inquiry
from services.web.deps import Wiring

YEAR = today().year
LEVELS = [L.very_satisfied] * 10 + [L.satisfied] * 6 + [L.dissatisfied] * 4


def wiring(client: TestClient) -> Wiring:
    w: Wiring = client.app.state.wiring  # type: ignore[attr-defined]
    return w


def new_case(client: TestClient, staff_id: str) -> str:
    w = wiring(client)
    person = w.directory.get().person(staff_id)  # type: ignore[union-attr]
    assert person is not None
    inquiry = Inquiry(channel=Channel.phone, matter="咨询社保卡补办", inquirer_name="王小明",
                      inquirer_phone="13912345678")
    with w.pool.connection() as conn, conn.transaction():
        return register_inquiry(w.repo, conn, person, inquiry).case_id


def act(client: TestClient, case_id: str, actor: str, *payloads: EventPayload) -> None:
    w = wiring(client)
    with w.pool.connection() as conn, conn.transaction():
        state = w.repo.load(case_id, conn)
        w.repo.append(state, [new_event(p, subject=case_id, actor=actor) for p in payloads],
                      conn)


def the_year(client: TestClient) -> None:
    due = "2026-01-05T09:00:00Z"
    for i in range(22):
        case_id = new_case(client, "ZX005")
        if i >= 20:
            continue
        act(client, case_id, "staff:ZX005", CaseReplied(answer="已答复", channel=Channel.phone))
        if i < 5:
            act(client, case_id, "staff:ZX005", CaseCompleted(
                outcome=Outcome.resolved if i < 4 else Outcome.explained, summary="办结"))
        act(client, case_id, "inquirer:x", CaseRated(level=LEVELS[i], anonymous=True))
        if i < 3:
            act(client, case_id, "service:deadline-watch", DeadlineMet.model_validate(
                {"obligation": Obligation.reply, "due_at": due, "on_time": True}))
        if i == 3:
            act(client, case_id, "service:deadline-watch", DeadlineBreached.model_validate(
                {"obligation": Obligation.complete, "due_at": due}))
    other = new_case(client, "ZX006")
    act(client, other, "staff:ZX006", CaseReplied(answer="已答复", channel=Channel.phone))
    act(client, other, "inquirer:y", CaseRated(level=L.very_satisfied, anonymous=False))


def test_person_and_unit_evaluation_against_hand_computed_values(
        intake: TestClient, token_for: Any) -> None:
    the_year(intake)
    r = intake.post("/v1/evaluation/staff/ZX005/assessment", headers=token_for("ZX011"),
                    json={"year": YEAR, "score": 95, "note": "考核组检查"})
    assert r.status_code == 201, r.text
    assert r.json()["assessed_by"] == "staff:ZX011"
    e = intake.get(f"/v1/evaluation/staff/ZX005?year={YEAR}", headers=token_for("ZX011"))
    assert e.status_code == 200, e.text
    v = e.json()
    assert (v["assessment"], v["ratings"], v["rating_score"], v["score"], v["grade"]) == (
        95.0, 20, 80.0, 89.0, "合格")
    assert v["incomplete"] == []
    rates = v["rates"]
    assert (rates["received"], rates["replied"], rates["response_rate"]) == (22, 20, 0.9091)
    assert (rates["completed"], rates["resolved"], rates["resolution_rate"]) == (5, 4, 0.8)
    assert (rates["rated"], rates["satisfied"], rates["satisfaction_rate"]) == (20, 16, 0.8)
    assert (rates["deadlines_due"], rates["deadlines_on_time"], rates["on_time_rate"]) == (
        4, 3, 0.75)

    unit = intake.get(f"/v1/evaluation/units/ZWFWZX?year={YEAR}", headers=token_for("ZX011"))
    u = unit.json()
    assert (u["rates"]["received"], u["ratings"], u["rating_score"], u["score"]) == (
        23, 21, 80.95, None)
    assert u["incomplete"] == ["no assessment score for the year"]
    last_year = intake.get(f"/v1/evaluation/staff/ZX005?year={YEAR - 1}",
                           headers=token_for("ZX011")).json()
    assert last_year["rates"]["received"] == 0 and last_year["score"] is None
    assert last_year["incomplete"] == ["insufficient ratings: 0 of at least 20",
                                       "no assessment score for the year"]


def test_a_later_assessment_replaces_the_earlier_and_too_few_ratings_are_reported(
        intake: TestClient, token_for: Any) -> None:
    for _ in range(3):
        case_id = new_case(intake, "ZX006")
        act(intake, case_id, "staff:ZX006", CaseReplied(answer="已答复", channel=Channel.phone))
        act(intake, case_id, "inquirer:x", CaseRated(level=L.satisfied, anonymous=True))
    for score in (70, 92.5):
        r = intake.post("/v1/evaluation/staff/ZX006/assessment", headers=token_for("ADMIN01"),
                        json={"year": YEAR, "score": score})
        assert r.status_code == 201, r.text
    v = intake.get("/v1/evaluation/staff/ZX006", headers=token_for("ZX006")).json()
    assert (v["assessment"], v["assessed_by"], v["ratings"], v["rating_score"]) == (
        92.5, "staff:ADMIN01", 3, 80.0)
    assert v["score"] is None and v["grade"] is None
    assert v["incomplete"] == ["insufficient ratings: 3 of at least 20"]


def test_who_may_read_and_score(intake: TestClient, token_for: Any) -> None:
    body = {"year": YEAR, "score": 80}
    post = "/v1/evaluation/staff/ZX005/assessment"
    assert intake.post(post, headers=token_for("ZX005"), json=body).status_code == 403
    assert intake.post(post, headers=token_for("ZX012"), json=body).status_code == 403
    assert intake.get("/v1/evaluation/staff/ZX005", headers=token_for("ZX006")).status_code == 403
    assert intake.get("/v1/evaluation/units/ZWFWZX",
                      headers=token_for("ZX005")).status_code == 403
    assert intake.get("/v1/evaluation/staff/ZX005", headers=token_for("ZX012")).status_code == 200
    assert intake.get("/v1/evaluation/staff/NOBODY",
                      headers=token_for("ZX011")).status_code == 404
    assert intake.get("/v1/evaluation/units/NOWHERE",
                      headers=token_for("ZX011")).status_code == 404


def test_bad_assessments_are_422_naming_the_field_and_write_nothing(
        intake: TestClient, token_for: Any) -> None:
    post = "/v1/evaluation/units/ZWFWZX/assessment"
    for body, field in [({"year": YEAR, "score": 100.5}, "score"),
                        ({"year": YEAR, "score": "NaN"}, "score"),
                        ({"year": 1999, "score": 80}, "year"),
                        ({"score": 80}, "year"),
                        ({"year": YEAR, "score": 80, "assessed_by": "me"}, "assessed_by")]:
        r = intake.post(post, headers=token_for("ZX011"), json=body)
        assert r.status_code == 422, r.text
        assert field in {str(part) for d in r.json()["errors"] for part in d["loc"]}, r.text
    v = intake.get(f"/v1/evaluation/units/ZWFWZX?year={YEAR}", headers=token_for("ZX011"))
    assert v.json()["assessment"] is None
    assert intake.get("/v1/evaluation/units/ZWFWZX?year=3000",
                      headers=token_for("ZX011")).status_code == 422
