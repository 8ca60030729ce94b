"""The case page's timeline names every event type in plain words (zh-CN with English).

    every registered event type  has a label in templates/_labels.html (checked against the
                                 registry, so a new type without one fails here)
    accountability steps         a supervisor walks a procedure through its pages; the
                                 case's timeline then tells each step: who, what was decided
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

import events  # noqa: F401  (registers every event type)
from events.registry import registered_types
from tests.integration.intake_helpers import FIRST
from tests.integration.test_accountability_console import (
    _PID,
    SUPERVISOR,
    complained_case,
    post_step,
)
from tests.integration.test_console import sign_in

LABELS = Path(__file__).resolve().parents[2] / "services/intake/templates/_labels.html"


def test_every_case_event_type_has_a_label_on_the_timeline():
    text = LABELS.read_text(encoding="utf-8")
    labelled = set(re.findall(r'^  "([a-z_]+)": \("', text.split("{% set EVENT = {")[1]
                              .split("} %}")[0], re.M))
    steps = {t.split(".")[2] for t in registered_types() if t.startswith("shouwen.case.")}
    assert steps - labelled == set()


def rows(page: str, step: str) -> list[str]:
    return re.findall(rf'<tr class="event event-{step}">(.*?)</tr>', page, re.S)


def test_the_accountability_steps_appear_on_the_case_timeline(
        intake: TestClient, token_for: Any) -> None:
    receipt = complained_case(intake, token_for)
    csrf = sign_in(intake, SUPERVISOR)
    r = intake.post("/console/accountability/open", follow_redirects=False, data={
        "csrf": csrf, "receipt_number": receipt["receipt_number"], "summary": "首问推诿，未告知",
        "against_staff_ids": FIRST})
    found = _PID.search(r.headers["location"])
    assert r.status_code == 303 and found, r.text
    pid = found.group(1)
    for step, form in [("verify", {"findings": "经核实属实", "proceed": "true"}),
                       ("proposal", {"proposal": "建议成立调查组"}),
                       ("investigate", {"group_member_ids": "ZX010, ZX011"}),
                       ("decide", {"decided_by_id": "ZX001", "upheld": "true",
                                   "reasoning": "违反首问负责制", "r.0.include": "true",
                                   "r.0.staff_id": FIRST, "r.0.kind": "direct"})]:
        r = post_step(intake, pid, step, form)
        assert r.status_code == 303, (step, r.text)

    page = intake.get(f"/console/cases/{receipt['case_id']}").text
    [opened] = rows(page, "accountability_opened")
    assert "问责立案" in opened and "首问推诿，未告知" in opened
    assert "被投诉 against: 李娜" in opened
    assert "冯秀兰 (ZX011)" in opened  # the supervisor who acted
    [verified] = rows(page, "preliminary_verified")
    assert "属实，进入程序" in verified and "经核实属实" in verified
    [proposal] = rows(page, "proposal_written")
    assert "建议成立调查组" in proposal
    [group] = rows(page, "investigation_started")
    assert "成立调查组" in group and "冯秀兰" in group and "30 个工作日" in group
    [decided] = rows(page, "accountability_decided")
    assert "投诉成立" in decided and "决定 周卫东" in decided
    assert re.search(r"李娜：直接责任 .*?· (警示提醒|批评教育并道歉|诫勉谈话)", decided)
    assert "违反首问负责制" in decided
    [complaint] = rows(page, "complaint_filed")
    assert "投诉" in complaint and "工作人员推诿" in complaint
