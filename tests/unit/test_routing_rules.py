"""Routing rules against the demo city's directory: classification, handler choice, decisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from events import new_event
from events.case import CaseAccepted, CaseClassified, CaseReceived, Jurisdiction
from events.case_matter import MatterSuggested
from events.case_referral import CaseEscalated, CaseReferred, EscalationReason
from events.fields import LeaderRole
from services.directory.index import DirectoryIndex
from services.directory.loader import load_directory
from services.directory.model import Directory
from services.domain.case import CaseState, apply, fold
from services.routing.rules import choose_handler, classify, decide, escalation_ladder

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "directory.yaml"


@pytest.fixture(scope="module")
def city() -> DirectoryIndex:
    return DirectoryIndex(load_directory(DEMO), 1)


def received(city: DirectoryIndex, staff_id: str, matter: str) -> CaseState:
    person = city.person(staff_id)
    assert person is not None
    payload = CaseReceived(
        channel="window", receipt_number="SW2026000001", unit_id=person.unit.id, matter=matter,
        inquirer_name="张三", inquirer_phone="13800000000", first_responder_id=staff_id,
        first_responder_name=person.staff.name, first_responder_duty=person.staff.duty,
        first_responder_contact=person.staff.contact,
    )
    event = new_event(payload, subject="C-1", actor=f"staff:{staff_id}")
    return fold("C-1", [event.with_sequence(1)])


def route(city: DirectoryIndex, state: CaseState, matter: str, counts=None):
    return decide(state, classify(matter, city), city, counts or {})


@pytest.mark.parametrize(("text", "code", "section"), [
    ("社保卡补办", "RSJ-SBK-03", "RSJ-SBK"),  # words in another order than the keyword
    ("我的社保卡丢了，怕被人冒用", "RSJ-SBK-02", "RSJ-SBK"),
    ("孩子刚出生，要上户口", "GAJ-01", "GAJ-HJ"),
    ("结婚证丢了要补领", "MZJ-05", "MZJ-HYDJ"),  # not 结婚登记: the longer match wins
    ("公司拖欠工资三个月了", "RSJ-LD-01", "RSJ-LDJC"),
    ("个税ＡＰＰ上怎么退税", "SWJ-01", "SWJ-NSFW"),  # full-width letters, upper case
    ("申请低保需要什么材料", "CGJD-03", "CGJD-SHSW"),
    ("水库移民后期扶持人口核定", "CGJD-05", "CGJD-YMAZ"),
])
def test_catalogue_matters_are_recognised_with_their_section(city, text, code, section):
    c = classify(text, city)
    assert (c.matter_code, c.section_id, c.external_body_id) == (code, section, None)
    assert 0.6 <= c.confidence <= 1.0


def test_a_matter_of_an_external_body_names_the_body_not_a_section(city):
    c = classify("我想办护照，出国旅游", city)
    assert (c.matter_code, c.unit_id, c.section_id, c.external_body_id) == (
        "EXT-02", None, None, "CRJ")


@pytest.mark.parametrize("text", ["阿巴阿巴啦啦", "今天天气怎么样", "qwerty 12345"])
def test_gibberish_is_unclear(city, text):
    c = classify(text, city)
    assert not c.clear and c.matter_code is None and c.confidence == 0.0


def test_generic_words_alone_leave_it_unclear_with_the_rivals_named(city):
    c = classify("咨询退休", city)  # 咨询 -> the centre's window, 退休 -> pension section
    assert not c.clear
    assert {"RSJ-YL-02", "ZX-001"} <= set(c.rivals)


def test_an_unclear_matter_with_a_credible_guess_is_suggested_not_escalated(city):
    decided = route(city, received(city, "ZX005", "退休"), "退休")
    (suggested,) = decided
    assert isinstance(suggested, MatterSuggested)
    assert suggested.suggestions[0].matter_type_code == "RSJ-YL-02"
    assert suggested.suggestions[0].handling_section_id == "RSJ-YLBX"
    assert suggested.confidence == suggested.suggestions[0].score < 0.5
    assert [s.score for s in suggested.suggestions] == sorted(
        (s.score for s in suggested.suggestions), reverse=True)


def test_handler_is_the_on_duty_worker_with_fewest_open_cases(city):
    # ZX-ZHSL: chief ZX004; staff ZX005, ZX006; ZX007 is off duty (and has no cases)
    chosen = choose_handler("ZX-ZHSL", city, {"ZX005": 3, "ZX006": 1, "ZX007": 0})
    assert chosen is not None and chosen.staff.id == "ZX006"


def test_handler_tie_goes_to_the_lowest_id_and_leaders_are_spared(city):
    chosen = choose_handler("ZX-ZHSL", city, {"ZX004": 0, "ZX005": 2, "ZX006": 2})
    assert chosen is not None and chosen.staff.id == "ZX005"


def test_a_leader_handles_when_no_one_else_is_on_duty(city):
    # RSJ-JYFW: chief RSJ006, and RSJ011 who is off duty
    chosen = choose_handler("RSJ-JYFW", city, {})
    assert chosen is not None and chosen.staff.id == "RSJ006"


def test_nobody_on_duty_means_no_on_duty_handler(city):
    doc = city.directory.model_dump(mode="json")
    for unit in doc["units"]:
        for staff in unit["staff"]:
            if staff.get("section") == "RSJ-SBK":
                staff["on_duty"] = False
    quiet = DirectoryIndex(Directory.model_validate(doc), 2)
    assert choose_handler("RSJ-SBK", quiet, {}) is None
    absent = choose_handler("RSJ-SBK", quiet, {"RSJ008": 4}, on_duty_only=False)
    assert absent is not None and absent.staff.id == "RSJ009"
    decided = route(quiet, received(quiet, "ZX005", "补办社保卡"), "补办社保卡", {"RSJ008": 4})
    assert isinstance(decided[1], CaseReferred)
    assert decided[1].referral.handler.id == "RSJ009" and not decided[1].referral.handler_present


def test_a_window_case_for_another_unit_is_classified_and_referred_there(city):
    state = received(city, "ZX005", "补办社保卡")
    decided = route(city, state, "补办社保卡", {"RSJ008": 5, "RSJ009": 2})
    classified, referred = decided
    assert isinstance(classified, CaseClassified)
    assert (classified.matter_type_code, classified.jurisdiction) == (
        "RSJ-SBK-03", Jurisdiction.other_unit)
    assert (classified.handling_unit_id, classified.handling_section_id) == ("RSJ", "RSJ-SBK")
    assert isinstance(referred, CaseReferred)
    r = referred.referral
    assert (r.kind, r.unit_id, r.section_id, r.handler.id) == (
        "internal", "RSJ", "RSJ-SBK", "RSJ009")
    assert r.handler.contact and r.handler.name == "唐宏伟" and r.handler_present


def test_another_section_of_the_same_unit_is_referred_without_a_unit(city):
    decided = route(city, received(city, "RSJ010", "社保卡补办"), "社保卡补办")
    assert decided[0].jurisdiction is Jurisdiction.own_unit
    assert decided[1].referral.unit_id is None and decided[1].referral.section_id == "RSJ-SBK"


def test_a_matter_of_the_first_responders_own_section_is_theirs(city):
    decided = route(city, received(city, "RSJ008", "补办社保卡"), "补办社保卡")
    assert len(decided) == 1 and decided[0].jurisdiction is Jurisdiction.own_duties


def test_an_external_matter_is_classified_only_never_referred_out(city):
    decided = route(city, received(city, "ZX005", "我想办护照"), "我想办护照")
    assert len(decided) == 1
    assert (decided[0].jurisdiction, decided[0].handling_unit_id) == (
        Jurisdiction.external_body, "CRJ")
    assert decided[0].handling_section_id is None


def test_routing_stays_out_once_a_person_acted(city):
    state = received(city, "ZX005", "补办社保卡")
    touched = apply(state, new_event(
        CaseAccepted(handler={"id": "ZX005", "name": "李娜", "duty": "窗口", "contact": "1"},
                     time_limit={"working_days": 1, "due_date": "2026-12-01"}),
        subject="C-1", actor="staff:ZX005"))
    assert touched.acted_by_staff
    assert route(city, touched, "补办社保卡") == []
    assert route(city, CaseState(case_id="C-2"), "补办社保卡") == []  # no such case


def test_an_unclear_matter_climbs_the_ladder_one_rung_at_a_time(city):
    state = received(city, "ZX005", "阿巴阿巴")
    steps = []
    for _ in range(4):
        decided = route(city, state, "阿巴阿巴")
        if not decided:
            break
        (escalated,) = decided
        assert isinstance(escalated, CaseEscalated)
        assert escalated.reason is EscalationReason.unclear_jurisdiction
        steps.append((escalated.leader.id, escalated.leader.role, escalated.ladder_step))
        state = apply(state, new_event(escalated, subject="C-1", actor="service:routing"))
    assert steps == [("ZX004", LeaderRole.section_head, 1),
                     ("ZX002", LeaderRole.supervising_leader, 2),
                     ("ZX001", LeaderRole.principal_leader, 3)]


def test_a_section_chief_asks_the_supervising_leader(city):
    ladder = escalation_ladder(received(city, "ZX004", "?"), city)
    assert [leader.id for leader in ladder] == ["ZX002", "ZX001"]


def test_a_complaint_is_referred_and_reported_to_the_principal_leader(city):
    decided = route(city, received(city, "ZX005", "我要投诉窗口工作人员推诿"),
                    "我要投诉窗口工作人员推诿")
    classified, escalated, referred = decided
    assert classified.jurisdiction is Jurisdiction.complaint
    assert (escalated.leader.id, escalated.reason) == ("ZX001", EscalationReason.complaint)
    assert referred.referral.section_id == "ZX-TSZX"
    assert referred.referral.handler.id == "ZX011"  # the inspector, not the chief
