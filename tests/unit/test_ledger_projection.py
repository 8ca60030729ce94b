"""The ledger projection's rules: events in, case_summary / ledger_rows values out. No I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from events import CloudEvent, new_event
from events.case import CaseAccepted, CaseReceived, TimeLimit
from events.case_outcome import CaseClosed, CaseCompleted, CaseRated, CaseRatedV1, CaseReplied
from events.case_referral import CaseEscalated, CaseReferred, TransferApproved
from events.deadline import DeadlineBreached, DeadlineMet, DeadlineSet
from events.fields import StaffMember
from events.registry import EventPayload
from services.record.describe import describe
from services.record.projection import CaseView, project
from services.record.sevenhaves import HAVES, describe_missing

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in Beijing
HANDLER = StaffMember(id="RSJ008", name="谢丹丹", duty="社保卡经办", contact="0935-1")


class Case:
    """A case's events, numbered as the store numbers them."""

    def __init__(self, case_id: str = "c-1") -> None:
        self.case_id, self.events = case_id, []

    def add(self, payload: EventPayload, actor: str = "staff:ZX005", hours: int = 0) -> CloudEvent:
        e = new_event(payload, subject=self.case_id, actor=actor,
                      time=T0 + timedelta(hours=hours)).with_sequence(len(self.events) + 1)
        self.events.append(e)
        return e

    def fold(self) -> CaseView:
        view = None
        for e in self.events:
            view = project(view, e)
        assert view is not None
        return view


def received(**extra: Any) -> CaseReceived:
    return CaseReceived(channel="visit", receipt_number="R-1", unit_id="ZWFWZX",
                        matter="办社保卡要带什么", inquirer_name="王小明",
                        inquirer_phone="13912345678", first_responder_id="ZX005",
                        first_responder_name="李娜", first_responder_duty="综合窗口",
                        first_responder_contact="0935-2", **extra)


def accepted(due: date = date(2026, 11, 5)) -> CaseAccepted:
    return CaseAccepted(handler=HANDLER, section_id="RSJ-SBK", handling_plan="制卡",
                        time_limit=TimeLimit(working_days=3, due_date=due))


def test_a_received_case_has_only_its_registration_and_names_the_six_missing_haves() -> None:
    case = Case()
    case.add(received())
    view = case.fold()
    assert view.status == "received" and view.responsible_id == "ZX005"
    assert view.responsible_name == "李娜" and view.inquirer_name == "王小明"
    assert view.seven_haves["registration"] and view.missing_haves == HAVES[1:]
    assert "plan (有部署安排)" in describe_missing(view.seven_haves)


def test_a_case_answered_on_time_and_closed_has_every_have_but_supervision() -> None:
    case = Case()
    case.add(received())
    case.add(accepted(), actor="staff:RSJ008", hours=1)
    case.add(CaseReplied(answer="已制卡", channel="phone"), actor="staff:RSJ008", hours=30)
    case.add(CaseCompleted(outcome="resolved", summary="制卡完成"), hours=31)
    case.add(CaseClosed(reason="completed"), hours=32)
    view = case.fold()
    assert view.status == "closed" and view.handler_name == "谢丹丹"
    assert view.due_date == date(2026, 11, 5) and view.on_time is True
    assert view.answer == "已制卡" and view.summary == "制卡完成" and view.outcome == "resolved"
    assert view.missing_haves == ("supervision",)
    assert view.closed_at == T0 + timedelta(hours=32)


def test_a_reply_after_the_due_date_in_beijing_time_is_late() -> None:
    case = Case()
    case.add(received())
    case.add(accepted(due=date(2026, 11, 3)))
    # 2026-11-03 16:30 UTC is already 11-04 00:30 in Beijing: late
    case.add(CaseReplied(answer="好", channel="phone"), hours=39, actor="staff:RSJ008")
    case.events[-1] = case.events[-1].model_copy(
        update={"time": datetime(2026, 11, 3, 16, 30, tzinfo=UTC)})
    assert case.fold().on_time is False


def test_deadlines_in_force_breach_makes_overdue_until_met() -> None:
    case = Case()
    case.add(received())
    due = T0 + timedelta(days=3)
    case.add(DeadlineSet(obligation="reply", due_at=due, calendar_id="CN",
                         limit_working_days=3), actor="service:deadline-watch")
    view = case.fold()
    assert view.next_due_at == due and not view.overdue and view.seven_haves["deadline"]
    case.add(DeadlineBreached(obligation="reply", due_at=due), actor="service:deadline-watch")
    view = case.fold()
    assert view.overdue and view.on_time is False and view.seven_haves["supervision"]
    assert view.next_due_at is None
    case.add(CaseReplied(answer="迟到的答复", channel="phone"))
    case.add(DeadlineMet(obligation="reply", due_at=due, on_time=False),
             actor="service:deadline-watch")
    view = case.fold()
    assert view.deadlines["reply"]["state"] == "met" and not view.overdue
    assert view.on_time is False


def test_escalation_transfer_rating_and_complaints_are_flags_beside_the_status() -> None:
    case = Case()
    case.add(received())
    case.add(CaseEscalated(leader={"id": "ZX004", "role": "section_head"},
                           reason="unclear_jurisdiction"))
    case.add(TransferApproved(approver={"id": "ZX001", "role": "principal_leader"},
                              previous_responsible_id="ZX005",
                              new_responsible=StaffMember(id="ZX006", name="赵鹏", duty="窗口",
                                                          contact="1")))
    case.add(CaseRatedV1(score=2), actor="inquirer:R-1")
    view = case.fold()
    assert view.escalated and view.escalated_to == ("ZX004",)
    assert (view.responsible_id, view.responsible_name) == ("ZX006", "赵鹏")
    assert view.rating == "不满意"  # rated.v1 score 2, upcast
    case.add(CaseRated(level="满意", anonymous=True), actor="inquirer:R-1")
    assert case.fold().rating == "满意"


def test_an_external_referral_is_the_ledgers_referral_and_feedback_to_the_inquirer() -> None:
    case = Case()
    case.add(received())
    case.add(CaseReferred(referral={"kind": "external", "body_name": "市公积金中心",
                                    "address": "和平路1号", "contact_phone": "0935-3",
                                    "contact_person": "刘"}))
    view = case.fold()
    assert view.status == "referred_out" and view.referral == "市公积金中心, 和平路1号, 0935-3, 刘"
    assert view.seven_haves["plan"] and view.seven_haves["feedback"]


def test_rows_read_back_are_the_same_state() -> None:
    case = Case()
    case.add(received())
    case.add(accepted())
    view = case.fold()
    again = CaseView.from_rows(view.summary_row(), view.ledger_row())
    assert again == view
    assert "inquirer_name" not in view.summary_row()  # personal data only in ledger_rows


def test_events_of_other_streams_and_cases_not_yet_received_change_nothing() -> None:
    case = Case()
    e = case.add(accepted())
    assert project(None, e) is None
    other = e.model_copy(update={"type": "shouwen.directory.changed.v1"})
    case2 = Case()
    case2.add(received())
    view = case2.fold()
    assert project(view, other) is view


def test_describe_says_what_was_done_and_what_was_said() -> None:
    did, said = describe("shouwen.case.replied.v1", {"answer": "请带身份证", "channel": "phone"})
    assert did == "replied to the inquirer by phone" and said == "请带身份证"
    did, _ = describe("shouwen.case.unknown_thing.v1", {})
    assert did == "recorded shouwen.case.unknown_thing.v1"


def test_the_projection_keeps_the_case_state_the_domain_fold_gives() -> None:
    from services.domain.case import fold
    from tests.integration.ledger_cases import lifecycle

    for i in range(12):
        events = [e.with_sequence(n + 1) for n, e in enumerate(lifecycle(f"c{i}", i))]
        view, state = None, None
        for n, e in enumerate(events):
            view, state = project(view, e), fold(f"c{i}", events[:n + 1])
            assert view is not None
            mine = (view.status, view.handler_id, view.responsible_id, view.section_id,
                    view.units, view.participants, view.escalated_to, view.awaiting_handoff_to,
                    view.due_date, view.matter_type_code, view.complaint_count, view.version)
            theirs = (state.status.value, state.handler_id, state.responsible_id,
                      state.section_id, state.units, state.participants, state.escalated_to,
                      state.awaiting_handoff_to, state.due_date, state.matter_type_code,
                      state.complaints, state.version)
            assert mine == theirs, (i, e.type)


def test_a_type_not_registered_is_never_projected_as_its_middle_word() -> None:
    import pytest

    from events import UnknownEventType

    case = Case()
    first = case.add(received())
    view = project(None, first)
    for unknown in ("shouwen.case.received.v9", "shouwen.case.teleported.v1"):
        forged = first.model_construct(**{**first.__dict__, "type": unknown, "sequence": 2})
        with pytest.raises(UnknownEventType, match=unknown):
            project(view, forged)


def test_a_chosen_matter_is_the_cases_matter_and_both_steps_are_described() -> None:
    from events.case_matter import MatterChosen, MatterSuggested, MatterSuggestion
    from services.domain.case import fold

    case = Case()
    case.add(received())
    suggested = case.add(MatterSuggested(confidence=0.41, suggestions=[
        MatterSuggestion(matter_type_code="RSJ-SBK-03", score=0.41, handling_unit_id="RSJ"),
        MatterSuggestion(matter_type_code="RSJ-SBK-02", score=0.3, handling_unit_id="RSJ")]),
        actor="service:routing")
    chosen = case.add(MatterChosen(matter_type_code="RSJ-SBK-02", matter_type_name="社会保障卡挂失",
                                   handling_unit_id="RSJ", handling_section_id="RSJ-SBK",
                                   suggested=True, suggestion_rank=2))
    view = case.fold()
    assert (view.matter_type_code, view.section_id) == ("RSJ-SBK-02", "RSJ-SBK")
    state = fold(case.case_id, case.events)
    assert (state.matter_type_code, state.section_id) == ("RSJ-SBK-02", "RSJ-SBK")
    assert describe(suggested.type, suggested.data)[0] == (
        "suggested the matters RSJ-SBK-03 (41%), RSJ-SBK-02 (30%)")
    assert describe(chosen.type, chosen.data) == (
        "chose the matter RSJ-SBK-02 (suggestion 2)", None)
