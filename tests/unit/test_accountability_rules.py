"""The accountability rules without I/O: the procedure's stages, the chain, the sanctions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from events import EventPayload, new_event
from events.accountability import (
    AccountabilityClosed,
    AccountabilityDecided,
    AccountabilityOpened,
    Circumstance,
    ClosingGround,
    DecisionDelivered,
    InvestigationExtended,
    InvestigationStarted,
    PreliminaryVerified,
    ProposalWritten,
    Responsibility,
    ResponsibilityKind,
    ReviewDecided,
    ReviewOutcome,
    ReviewRequested,
    Sanction,
)
from events.fields import LeaderRef, LeaderRole
from services.accountability import folding, sanctions
from services.accountability.chain import responsibility_chain
from services.accountability.procedure import ProcedureState, Stage, StepNotAllowed
from services.directory.index import DirectoryIndex
from services.directory.loader import load_directory
from tests.conftest import DEMO_DIRECTORY

CASE, PID = "C-" + "a" * 32, "AP-" + "b" * 32
MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
LEADER = LeaderRef(id="ZX001", role=LeaderRole.principal_leader)


def ev(payload: EventPayload, when: datetime = MONDAY, actor: str = "staff:ZX011") -> Any:
    return new_event(payload, subject=CASE, actor=actor, time=when)


def finding(staff_id: str = "ZX005", sanction: Sanction = Sanction.criticism_and_apology
            ) -> Responsibility:
    return Responsibility(staff_id=staff_id, kind=ResponsibilityKind.direct, sanction=sanction,
                          violation_number=1)


def opened() -> list[Any]:
    return [ev(AccountabilityOpened(procedure_id=PID, against_staff_ids=["ZX005"],
                                    summary="推诿"))]


def investigating() -> list[Any]:
    return [*opened(), ev(PreliminaryVerified(procedure_id=PID, findings="属实", proceed=True)),
            ev(ProposalWritten(procedure_id=PID, proposal="立案调查")),
            ev(InvestigationStarted(procedure_id=PID, group_member_ids=["ZX010"]))]


def delivered(on: datetime = MONDAY) -> list[Any]:
    return [*investigating(),
            ev(AccountabilityDecided(procedure_id=PID, decided_by=LEADER, upheld=True,
                                     responsibilities=[finding()], reasoning="r")),
            ev(DecisionDelivered(procedure_id=PID, delivered_to_ids=["ZX005"], rights_told=True),
               when=on)]


def state(events: list[Any]) -> ProcedureState:
    s = folding.fold(CASE, PID, events)
    assert s is not None
    return s


TODAY = date(2026, 3, 2)


def test_a_new_procedure_allows_only_verification_or_withdrawal() -> None:
    s = state(opened())
    assert s.stage is Stage.opened
    assert s.allowed_steps(TODAY) == ["verify", "close"]
    with pytest.raises(StepNotAllowed, match="decide: not allowed while the procedure is opened"):
        s.require("decide", TODAY)


def test_verification_that_finds_nothing_dismisses_and_closes_as_not_substantiated() -> None:
    s = state([*opened(), ev(PreliminaryVerified(procedure_id=PID, findings="不属实",
                                                 proceed=False))])
    assert s.stage is Stage.dismissed and s.allowed_steps(TODAY) == ["close"]
    assert s.closing_ground(False, TODAY) is ClosingGround.not_substantiated


def test_investigation_runs_30_working_days_and_extends_once_by_15() -> None:
    s = state(investigating())
    # 30 working days after Mon 2 March 2026 by the official calendar: Qingming's Monday
    # (6 April) is off, so not 13 but 14 April
    assert s.investigation_due == date(2026, 4, 14)
    s = state([*investigating(), ev(InvestigationExtended(procedure_id=PID, approver=LEADER,
                                                           reason="证人出差"))])
    # 45: Labour Day 1-5 May is off, Sat 9 May a make-up working day
    assert s.investigation_due == date(2026, 5, 8) and s.due == s.investigation_due
    with pytest.raises(StepNotAllowed, match="already extended once"):
        s.require("extend", TODAY)


def test_decision_is_due_for_delivery_in_10_working_days() -> None:
    s = state(delivered()[:-1])
    assert s.stage is Stage.decided and s.delivery_due == date(2026, 3, 16)
    assert s.sanctioned_ids == {"ZX005"}


def test_review_may_be_asked_within_15_days_of_delivery_only() -> None:
    s = state(delivered())
    assert s.review_request_until == date(2026, 3, 17)
    s.require("review_request", date(2026, 3, 17))
    with pytest.raises(StepNotAllowed, match="review window closed on 2026-03-17"):
        s.require("review_request", date(2026, 3, 18))


def test_a_delivered_decision_closes_only_after_the_review_window() -> None:
    s = state(delivered())
    with pytest.raises(StepNotAllowed, match="review window is open until 2026-03-17"):
        s.closing_ground(False, TODAY)
    assert s.closing_ground(False, date(2026, 3, 18)) is ClosingGround.decided
    with pytest.raises(StepNotAllowed, match="cannot be withdrawn"):
        s.closing_ground(True, date(2026, 3, 18))


def test_before_the_decision_only_a_withdrawal_closes_it() -> None:
    s = state(investigating())
    with pytest.raises(StepNotAllowed, match="withdraw: true"):
        s.closing_ground(False, TODAY)
    assert s.closing_ground(True, TODAY) is ClosingGround.withdrawn


def test_a_revoking_review_leaves_no_findings_and_a_varied_one_replaces_them() -> None:
    asked = [*delivered(), ev(ReviewRequested(procedure_id=PID, requested_by_id="ZX005",
                                              grounds="有证据"), actor="staff:ZX005")]
    assert state(asked).review_decision_due == date(2026, 4, 1)
    revoked = state([*asked, ev(ReviewDecided(procedure_id=PID, outcome=ReviewOutcome.revoked,
                                              reason="证据不足"))])
    assert revoked.stage is Stage.reviewed and revoked.responsibilities == ()
    milder = finding(sanction=Sanction.warning_reminder)
    varied = state([*asked, ev(ReviewDecided(procedure_id=PID, outcome=ReviewOutcome.varied,
                                             reason="情节轻微",
                                             varied_responsibilities=[milder]))])
    assert [r["sanction"] for r in varied.responsibilities] == ["warning_reminder"]
    closed = state([*asked, ev(ReviewDecided(procedure_id=PID, outcome=ReviewOutcome.upheld,
                                             reason="维持")),
                    ev(AccountabilityClosed(procedure_id=PID, ground=ClosingGround.reviewed))])
    assert closed.stage is Stage.closed and closed.allowed_steps(TODAY) == []


def test_events_of_other_procedures_on_the_case_are_ignored() -> None:
    other = new_event(ProposalWritten(procedure_id="AP-" + "c" * 32, proposal="x"),
                      subject=CASE, actor="staff:ZX011")
    assert state([*opened(), other]).stage is Stage.opened
    assert folding.fold(CASE, "AP-" + "c" * 32, [other]) is None


@pytest.fixture(scope="module")
def demo() -> DirectoryIndex:
    return DirectoryIndex(load_directory(DEMO_DIRECTORY), 1)


def test_chain_is_first_responder_section_chief_and_supervising_leader(demo: DirectoryIndex
                                                                       ) -> None:
    chain = responsibility_chain(demo, ["ZX005"])
    assert [(c.staff_id, c.kind.value) for c in chain] == [
        ("ZX005", "direct"), ("ZX004", "main_leadership"), ("ZX002", "important_leadership")]


def test_a_chief_complained_about_is_directly_responsible_once(demo: DirectoryIndex) -> None:
    chain = responsibility_chain(demo, ["ZX004", "ZX006"])
    assert [(c.staff_id, c.kind.value) for c in chain] == [
        ("ZX004", "direct"), ("ZX006", "direct"), ("ZX002", "important_leadership")]


@pytest.mark.parametrize(("n", "sanction"), [
    (1, Sanction.criticism_and_apology), (2, Sanction.circulated_criticism),
    (3, Sanction.efficiency_warning), (4, Sanction.removal_from_post),
    (9, Sanction.removal_from_post)])
def test_repeat_violations_climb_the_ladder(n: int, sanction: Sanction) -> None:
    assert sanctions.propose(n) is sanction


def test_circumstances_move_the_sanction_along_the_ladder() -> None:
    M, A = Circumstance, Circumstance
    assert sanctions.propose(1, [M.rules_silent]) is Sanction.warning_reminder
    assert sanctions.propose(1, [M.rules_silent, M.false_information]) is Sanction.none
    assert sanctions.propose(3, [M.force_majeure]) is Sanction.none
    assert sanctions.propose(2, [], [A.obstructed_investigation]) is Sanction.efficiency_warning
    assert sanctions.propose(2, [M.rules_silent], [A.retaliated_against_complainant]
                             ) is Sanction.circulated_criticism
    assert sanctions.propose(4, [], [A.obstructed_investigation]) is Sanction.removal_from_post
    assert sanctions.propose(1, [M.other], [M.other]) is Sanction.criticism_and_apology


def test_circumstances_on_the_wrong_side_are_named() -> None:
    assert sanctions.misplaced([Circumstance.obstructed_investigation], []) == (
        "mitigating: 'obstructed_investigation' is an aggravating circumstance")
    assert sanctions.misplaced([], [Circumstance.force_majeure]) == (
        "aggravating: 'force_majeure' is a mitigating circumstance")
    assert sanctions.misplaced([Circumstance.other], [Circumstance.other]) is None
    with pytest.raises(ValueError):
        sanctions.repeat_step(0)


def test_the_times_of_steps_are_counted_in_civil_time() -> None:
    late_evening_utc = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # Mon 01:00 in Shanghai
    s = state([*investigating()[:-1], ev(InvestigationStarted(
        procedure_id=PID, group_member_ids=["ZX010"]), when=late_evening_utc)])
    assert s.investigation_started == date(2026, 3, 2)
    assert MONDAY - late_evening_utc == timedelta(hours=9)


def test_the_units_policy_sets_delivery_and_review_limits() -> None:
    from services.calendar.limits import UnitRules, national
    from services.calendar.policy import UnitPolicy

    rules = UnitRules(UnitPolicy(decision_delivery_working_days=5,
                                 review_request_calendar_days=7), national().calendar)
    s = folding.fold(CASE, PID, delivered()[:-1], rules)
    assert s is not None and s.delivery_due == date(2026, 3, 9)  # Mon + 5 working days
    s = folding.fold(CASE, PID, delivered(), rules)
    assert s is not None and s.review_request_until == date(2026, 3, 9)
