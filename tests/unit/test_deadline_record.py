"""What deadline-watch records of a case's clocks (services.deadline_watch.record), on the
fake calendar of test_deadline_rules: the same whatever the lag, each decision an id of its
own, nothing said twice."""

from __future__ import annotations

from events import new_event
from events.case import MaterialsSupplied, MissingMaterial, OneTimeNoticeGiven
from events.case_outcome import CaseCompleted, Outcome
from events.case_referral import TransferApproved
from events.deadline import Obligation as Ob
from events.fields import Channel, LeaderRole, StaffMember
from events.fields import LeaderRef as Leader
from services.deadline_watch.record import history, record
from services.deadline_watch.timers import announcements
from tests.unit.test_deadline_rules import CAL, POLICY, Case, civil

SAID = "service:deadline-watch"


def said(case: Case) -> list[tuple[str, str, str]]:
    """Record what the stream lacks, append it, and return it (kind, obligation, state)."""
    cc, steps = history(case.case_id, case.events, POLICY, CAL)
    out = []
    for eid, payload in record(cc, steps):
        case.add(civil(2030, 1, 1), payload, actor=SAID)
        case.events[-1] = new_event(payload, subject=case.case_id, actor=SAID,
                                    time=civil(2030, 1, 1), id=eid).with_sequence(
                                        len(case.events))
        d = payload.model_dump(mode="json")
        out.append((type(payload).__name__, d["obligation"],
                    d.get("state") or str(d.get("on_time", ""))))
    return out


def test_on_time_or_late_the_same_things_are_said_and_then_nothing():
    on_time, late = Case("C-ON"), Case("C-LATE")
    steps = [lambda c: c.accept(civil(2026, 9, 29), 3),
             lambda c: c.add(civil(2026, 9, 30), CaseCompleted(outcome=Outcome.resolved,
                                                                 summary="已办结"))]
    heard = said(on_time)
    for step in steps:
        step(on_time)
        heard += said(on_time)
        step(late)
    assert sorted(said(late)) == sorted(heard)
    assert said(late) == [] and said(on_time) == []


def test_a_same_day_resume_is_said_under_an_id_of_its_own():
    case = Case(channel=Channel.phone)
    case.accept(civil(2026, 9, 29), 5)
    said(case)
    case.add(civil(2026, 9, 30, 9), OneTimeNoticeGiven(
        missing_materials=[MissingMaterial(name="户口簿")], notified_via=Channel.window))
    assert said(case) == [("DeadlineSet", Ob.complete, "paused")]
    case.add(civil(2026, 9, 30, 11), MaterialsSupplied(materials=["户口簿"], complete=True))
    assert said(case) == [("DeadlineSet", Ob.complete, "running")]
    sets = [e for e in case.events if e.type.endswith("deadline_set.v1")
            and e.data["obligation"] == Ob.complete]
    assert len({e.data["due_at"] for e in sets}) == 1  # the same due time three times
    assert len({e.id for e in sets}) == 3


def test_a_late_watch_records_one_breach_though_the_responsible_person_changed():
    case = Case(channel=Channel.phone)
    case.accept(civil(2026, 9, 29), 1)  # due Wednesday 30 September
    case.add(civil(2026, 10, 9), TransferApproved(
        approver=Leader(id="ZX002", role=LeaderRole.supervising_leader),
        previous_responsible_id="ZX005",
        new_responsible=StaffMember(id="ZX006", name="赵鹏", duty="窗口受理",
                                    contact="0935-8100106")))
    case.add(civil(2026, 10, 12), CaseCompleted(outcome=Outcome.resolved, summary="已办结"))
    complete = [(k, s) for k, o, s in said(case) if o == Ob.complete]
    assert complete == [("DeadlineSet", "running"), ("DeadlineBreached", ""),
                        ("DeadlineSet", "running"), ("DeadlineMet", "False")]


def test_a_clock_said_under_older_ids_gets_only_its_state_in_force():
    case = Case()
    for eid, payload in announcements(case.clocks()):  # as the release before this said it
        case.events.append(new_event(payload, subject="C-1", actor=SAID, id=eid,
                                     time=civil(2026, 9, 28)).with_sequence(
                                         len(case.events) + 1))
    assert said(case) == []
    case.accept(civil(2026, 9, 29), 3)
    assert sorted(said(case)) == [("DeadlineMet", Ob.forward, "True"),
                                  ("DeadlineSet", Ob.complete, "running")]
