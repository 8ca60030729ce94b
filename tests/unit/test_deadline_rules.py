"""Deadline rules on a small fake calendar: which clocks run, pause, move, end; the ladder.

The fake keeps Monday-Friday, minus the holidays given, plus the make-up days given, with
an official schedule for 2026 only; the real calendar is tested by its own package.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from events import CloudEvent, new_event
from events.accountability import (
    AccountabilityDecided,
    DecisionDelivered,
    InvestigationExtended,
    InvestigationStarted,
)
from events.case import (
    CaseAccepted,
    CaseReceived,
    ExtensionGranted,
    MaterialsSupplied,
    MissingMaterial,
    OneTimeNoticeGiven,
    TimeLimit,
)
from events.case_outcome import CaseClosed, CaseCompleted, ClosingReason, Outcome
from events.deadline import ClockState, Obligation
from events.fields import Channel, LeaderRef, LeaderRole, StaffMember
from events.registry import EventPayload
from services.calendar.policy import PolicyError, UnitPolicy, load_policy_yaml
from services.deadline_watch.calendar_port import CIVIL_TIME, civil_day, end_of_day
from services.deadline_watch.obligations import CaseClocks, fold_clocks
from services.deadline_watch.timers import announcements, plan, warning_at

Ob = Obligation
HOLIDAYS = frozenset(date(2026, 10, d) for d in range(1, 8))  # National Day week
MAKE_UP = frozenset({date(2026, 9, 20), date(2026, 10, 10)})  # a Sunday and a Saturday
HANDLER = StaffMember(id="ZX005", name="李娜", duty="窗口受理", contact="0935-8100105")
LEADER = LeaderRef(id="ZX002", role=LeaderRole.supervising_leader)


@dataclass(frozen=True)
class Due:
    at: datetime
    day: date
    provisional: bool


class FakeCalendar:
    calendar_id = "TEST"

    def is_working_day(self, day: date) -> bool:
        return day in MAKE_UP or (day.weekday() < 5 and day not in HOLIDAYS)

    def covers(self, year: int) -> bool:
        return year == 2026

    def _due(self, day: date) -> Due:
        return Due(end_of_day(day), day, not self.covers(day.year))

    def add_working_days(self, start: datetime, days: int) -> Due:
        day, provisional = civil_day(start), False
        while days > 0:
            day += timedelta(days=1)
            provisional = provisional or not self.covers(day.year)
            days -= self.is_working_day(day)
        due = self._due(day)
        return Due(due.at, day, provisional or due.provisional)

    def add_calendar_days(self, start: datetime, days: int) -> Due:
        return self._due(civil_day(start) + timedelta(days=days))

    def working_days_between(self, start: datetime, end: datetime) -> int:
        day, last, n = civil_day(start), civil_day(end), 0
        while day < last:
            day += timedelta(days=1)
            n += self.is_working_day(day)
        return n


CAL = FakeCalendar()
POLICY = UnitPolicy()


def civil(y: int, m: int, d: int, h: int = 10) -> datetime:
    return datetime(y, m, d, h, tzinfo=CIVIL_TIME).astimezone(UTC)


class Case:
    """A case's stream, written event by event at given civil times."""

    def __init__(self, case_id: str = "C-1", channel: Channel = Channel.letter,
                 at: datetime | None = None) -> None:
        self.case_id = case_id
        self.events: list[CloudEvent] = []
        self.add(at or civil(2026, 9, 28), CaseReceived(
            channel=channel, receipt_number="SW1", unit_id="ZWFWZX", matter="补办社保卡",
            inquirer_name="张三", first_responder_id="ZX005", first_responder_name="李娜",
            first_responder_duty="窗口受理", first_responder_contact="0935-8100105"))

    def add(self, at: datetime, payload: EventPayload, actor: str = "staff:ZX005") -> Case:
        event = new_event(payload, subject=self.case_id, actor=actor, time=at)
        self.events.append(event.with_sequence(len(self.events) + 1))
        return self

    def accept(self, at: datetime, days: int, due: date | None = None) -> Case:
        """As intake does: the due date told to the inquirer, counted on the calendar."""
        return self.add(at, CaseAccepted(handler=HANDLER, time_limit=TimeLimit(
            working_days=days, due_date=due or CAL.add_working_days(at, days).day)))

    def clocks(self, policy: UnitPolicy = POLICY) -> CaseClocks:
        return fold_clocks(self.case_id, self.events, policy, CAL)


def test_a_letter_starts_forward_and_reply_clocks_by_working_days():
    cc = Case().clocks()  # received Monday 28 Sept
    assert cc.clocks[Ob.forward].due_day == date(2026, 9, 30)
    assert cc.clocks[Ob.reply].due_day == date(2026, 10, 8)  # 29, 30, then after the holiday
    assert cc.clocks[Ob.reply].due_at == end_of_day(date(2026, 10, 8))
    assert not cc.clocks[Ob.reply].provisional


def test_a_phone_call_has_no_reply_clock_and_units_may_set_their_own_limit():
    assert Ob.reply not in Case(channel=Channel.phone).clocks().clocks
    town = UnitPolicy(reply_working_days=7)
    assert Case().clocks(town).clocks[Ob.reply].due_day == date(2026, 10, 13)  # with Sat 10


def test_holidays_are_skipped_and_make_up_days_counted():
    friday = Case(at=civil(2026, 10, 9)).clocks()  # Saturday 10 Oct is a make-up day
    assert friday.clocks[Ob.forward].due_day == date(2026, 10, 12)
    before = Case(at=civil(2026, 9, 30)).clocks()  # the National Day week lies between
    assert before.clocks[Ob.forward].due_day == date(2026, 10, 9)


def test_the_due_date_told_to_the_inquirer_stands_for_the_complete_clock():
    told = Case().accept(civil(2026, 11, 2), 5, due=date(2026, 11, 11)).clocks()
    assert told.clocks[Ob.complete].due_at == end_of_day(date(2026, 11, 11))
    assert told.clocks[Ob.complete].limit_working_days == 5


def test_acceptance_meets_forward_and_starts_complete_under_the_handler():
    cc = Case().accept(civil(2026, 9, 29), 5).clocks()
    assert cc.clocks[Ob.forward].ended == "met"
    assert cc.clocks[Ob.complete].responsible_id == "ZX005"
    assert cc.clocks[Ob.complete].due_day == date(2026, 10, 12)  # 30, 8, 9, Sat 10, 12


def test_a_one_time_notice_pauses_and_complete_materials_resume_with_days_left():
    case = Case().accept(civil(2026, 11, 2), 5)  # Monday: due Monday 9 Nov
    case.add(civil(2026, 11, 3), OneTimeNoticeGiven(
        missing_materials=[MissingMaterial(name="身份证复印件")], notified_via=Channel.window))
    paused = case.clocks().clocks[Ob.complete]
    assert (paused.state, paused.remaining) == (ClockState.paused, 4)  # 4, 5, 6, 9 Nov
    assert not [t for t in plan(case.clocks(), POLICY, CAL) if t.obligation is Ob.complete]
    case.add(civil(2026, 11, 12), MaterialsSupplied(materials=["身份证复印件"], complete=True))
    resumed = case.clocks().clocks[Ob.complete]
    assert resumed.state is ClockState.running
    assert resumed.due_day == date(2026, 11, 18)  # Thu 12 + 4: 13, 16, 17, 18
    assert resumed.previous_due_at == end_of_day(date(2026, 11, 9))


def test_an_extension_moves_the_due_time_and_the_timers_with_it():
    case = Case().accept(civil(2026, 11, 2), 5)
    before = {t.kind: t for t in plan(case.clocks(), POLICY, CAL) if t.obligation is Ob.complete}
    case.add(civil(2026, 11, 6), ExtensionGranted(
        approver=LEADER, new_due_date=date(2026, 11, 20), reason="需要现场核查"))
    after = {t.kind: t for t in plan(case.clocks(), POLICY, CAL) if t.obligation is Ob.complete}
    assert after["breach"].fire_at == end_of_day(date(2026, 11, 20))
    assert after["escalate-1"].fire_at == end_of_day(date(2026, 11, 23))  # next working day
    assert after["breach"].event_id != before["breach"].event_id


def test_completion_and_closing_end_the_clocks_and_their_timers():
    case = Case().accept(civil(2026, 11, 2), 5)
    case.add(civil(2026, 11, 4), CaseCompleted(outcome=Outcome.resolved, summary="已办结"))
    cc = case.clocks()
    assert cc.clocks[Ob.complete].ended == "met" and cc.clocks[Ob.reply].ended == "met"
    assert plan(cc, POLICY, CAL) == []
    closed = Case().add(civil(2026, 9, 29), CaseClosed(reason=ClosingReason.withdrawn))
    assert all(c.ended == "cancelled" for c in closed.clocks().clocks.values())


def test_the_ladder_climbs_one_working_day_apart_after_the_breach():
    timers = {t.kind: t.fire_at for t in plan(Case(channel=Channel.phone).clocks(), POLICY, CAL)}
    assert timers["breach"] == end_of_day(date(2026, 9, 30))
    assert timers["escalate-1"] == end_of_day(date(2026, 10, 8))  # over the holiday
    assert timers["escalate-2"] == end_of_day(date(2026, 10, 9))
    assert timers["escalate-3"] == end_of_day(date(2026, 10, 10))  # the make-up Saturday
    slow = UnitPolicy(ladder_delay_working_days=2, ladder_steps=2)
    kinds = {t.kind for t in plan(Case(channel=Channel.phone).clocks(slow), slow, CAL)}
    assert kinds == {"warn", "breach", "escalate-1", "escalate-2"}


def test_warnings_follow_the_share_or_one_working_day_left():
    clock = Case().accept(civil(2026, 11, 2, 0), 5).clocks().clocks[Ob.complete]
    share = warning_at(clock, POLICY, CAL)  # 80% of 2 Nov 00:00 .. 10 Nov 00:00
    assert share == civil(2026, 11, 2, 0) + timedelta(days=8) * 0.8
    last_day = UnitPolicy.model_validate({"warning": {"mode": "one_working_day_left"}})
    assert warning_at(clock, last_day, CAL) == end_of_day(date(2026, 11, 8))
    same_day = Case().accept(civil(2026, 11, 2, 23), 0).clocks().clocks[Ob.complete]
    assert warning_at(same_day, last_day, CAL) is None


def test_an_investigation_runs_30_working_days_and_an_extension_adds_15():
    case = Case().add(civil(2026, 11, 2), InvestigationStarted(
        procedure_id="P1", group_member_ids=["ZX010"]))
    first = case.clocks().clocks[Ob.investigation].due_day
    case.add(civil(2026, 11, 20), InvestigationExtended(
        procedure_id="P1", approver=LEADER, reason="证人外出"))
    moved = case.clocks().clocks[Ob.investigation]
    assert first == date(2026, 12, 14)
    assert moved.due_day == date(2027, 1, 4) and moved.provisional  # 2027 is not covered


def test_the_decision_and_review_windows_follow_the_procedure():
    case = Case().add(civil(2026, 11, 2), InvestigationStarted(
        procedure_id="P1", group_member_ids=["ZX010"]))
    case.add(civil(2026, 11, 9), AccountabilityDecided(
        procedure_id="P1", decided_by=LEADER, responsibilities=[], reasoning="查无实据",
        upheld=False))
    case.add(civil(2026, 11, 10), DecisionDelivered(
        procedure_id="P1", delivered_to_ids=["ZX005"], rights_told=True))
    cc = case.clocks()
    assert cc.clocks[Ob.investigation].ended == "met"
    assert cc.clocks[Ob.decision_delivery].ended == "met"
    assert cc.clocks[Ob.review_request].due_day == date(2026, 11, 25)  # 15 calendar days
    kinds = {t.kind for t in plan(cc, POLICY, CAL) if t.obligation is Ob.review_request}
    assert kinds == {"breach"}  # the sanctioned person's window: no warning, no ladder


def test_announcements_say_each_change_once():
    case = Case()
    said = announcements(case.clocks())
    assert sorted(p.model_dump()["obligation"] for _, p in said) == [Ob.forward, Ob.reply]
    for eid, payload in said:
        event = new_event(payload, subject="C-1", actor="service:deadline-watch",
                          time=civil(2026, 9, 28), id=eid)
        case.events.append(event.with_sequence(len(case.events) + 1))
    assert announcements(case.clocks()) == []
    case.accept(civil(2026, 9, 29), 3)
    kinds = {(type(p).__name__, p.model_dump()["obligation"])
             for _, p in announcements(case.clocks())}
    assert kinds == {("DeadlineMet", Ob.forward), ("DeadlineSet", Ob.complete)}


def test_a_policy_file_overrides_per_unit_and_bad_input_names_the_field():
    book = load_policy_yaml("default: {forward_working_days: 3}\n"
                            "units: {YMS: {reply_working_days: 7}}\n")
    assert book.for_unit("YMS").reply_working_days == 7
    assert book.for_unit("YMS").forward_working_days == 3  # the default's, not the preset
    assert book.for_unit("other").reply_working_days == 3
    with pytest.raises(PolicyError, match="units.YMS.reply_working_days"):
        load_policy_yaml("units: {YMS: {reply_working_days: -1}}")
    with pytest.raises(PolicyError, match="default.warning.share"):
        load_policy_yaml("default: {warning: {mode: share, share: 1.5}}")


def test_the_official_2026_calendar_gives_the_same_days_as_the_fake():
    from services.calendar import builtin_book

    real = builtin_book().for_unit("ZWFWZX")
    for case in (Case(at=civil(2026, 10, 9)), Case(at=civil(2026, 9, 30)), Case()):
        ours = fold_clocks("C-1", case.events, POLICY, real).clocks
        assert {o: c.due_day for o, c in ours.items()} == {
            o: c.due_day for o, c in case.clocks().clocks.items()}


def test_the_ladder_names_the_section_head_then_the_supervising_then_the_principal_leader():
    from pathlib import Path

    from services.deadline_watch.ladder import recipient
    from services.directory.index import DirectoryIndex
    from services.directory.loader import load_directory

    city = DirectoryIndex(load_directory(
        Path(__file__).resolve().parents[2] / "deploy" / "demo" / "directory.yaml"), 1)
    ladder = [recipient(step, city, "ZX005", "ZWFWZX", None) for step in (1, 2, 3)]
    assert [(r.id, r.role) for r in ladder if r] == [
        ("ZX004", LeaderRole.section_head), ("ZX002", LeaderRole.supervising_leader),
        ("ZX001", LeaderRole.principal_leader)]
    assert recipient(1, city, "ZX004", "ZWFWZX", None) is None  # the chief is the one late
    assert recipient(1, city, None, "ZWFWZX", "ZX-TSZX").id == "ZX010"  # type: ignore[union-attr]


def test_a_cross_unit_handoff_is_timed_by_the_receiving_units_accept_referral_limit():
    book = load_policy_yaml("default: {accept_referral_working_days: 2}\n"
                            "units: {ZWFWZX: {accept_referral_working_days: 1},"
                            " RSJ: {accept_referral_working_days: 6}}\n")
    referring = book.for_unit("ZWFWZX")
    assert referring.accept_referral_days("RSJ") == 6
    assert referring.accept_referral_days("SWJ") == 2  # not in the book: the default
    assert referring.accept_referral_days(None) == 1  # inside the unit: its own
    assert book == load_policy_yaml("default: {accept_referral_working_days: 2}\n"
                                    "units: {ZWFWZX: {accept_referral_working_days: 1},"
                                    " RSJ: {accept_referral_working_days: 6}}\n")
