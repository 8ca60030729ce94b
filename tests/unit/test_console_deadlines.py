"""The console's reading of deadline-watch's events (services.intake.routes.console_deadlines,
pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.intake.routes.console_deadlines import due_text, in_force, ladder, overdue

T0 = datetime(2026, 11, 27, 2, tzinfo=UTC)
NOW = datetime(2026, 12, 5, tzinfo=UTC)


def set_(obligation: str, due: str, **more: object) -> tuple[str, dict[str, object], datetime]:
    return "deadline_set", {"obligation": obligation, "due_at": due, **more}, T0


def test_the_last_deadline_set_of_an_obligation_is_the_one_in_force():
    facts = [set_("complete", "2026-12-10T16:00:00Z", responsible_id="ZX005"),
             set_("complete", "2026-12-20T16:00:00Z", responsible_id="ZX005",
                  provisional=True, basis="承诺时限")]
    [d] = in_force(facts, NOW)
    assert (d.obligation, d.due_at.day, d.provisional, d.basis, d.overdue) == (
        "complete", 20, True, "承诺时限", False)


def test_met_ends_a_deadline_and_breached_keeps_it_overdue_until_met():
    facts = [set_("forward", "2026-12-01T16:00:00Z"), set_("reply", "2026-12-02T16:00:00Z"),
             ("deadline_breached", {"obligation": "reply", "due_at": "2026-12-02T16:00:00Z"}, T0),
             ("deadline_met", {"obligation": "forward", "due_at": "2026-12-01T16:00:00Z",
                               "on_time": True}, T0)]
    [d] = in_force(facts, NOW)
    assert (d.obligation, d.state, d.overdue) == ("reply", "breached", True)
    assert overdue([d])
    facts.append(("deadline_met", {"obligation": "reply", "due_at": "x", "on_time": False}, T0))
    assert in_force(facts, NOW) == []


def test_a_running_clock_past_its_due_time_is_overdue_but_a_paused_one_never_is():
    facts = [set_("forward", "2026-12-01T16:00:00Z"),
             set_("complete", "2026-12-01T16:00:00Z", state="paused")]
    found = {d.obligation: d.overdue for d in in_force(facts, NOW)}
    assert found == {"forward": True, "complete": False}
    assert not overdue(in_force(facts, datetime(2026, 11, 30, tzinfo=UTC)))


def test_deadlines_are_listed_soonest_first():
    facts = [set_("complete", "2026-12-20T16:00:00Z"), set_("reply", "2026-12-02T16:00:00Z")]
    assert [d.obligation for d in in_force(facts, T0)] == ["reply", "complete"]


def test_only_escalations_with_a_ladder_step_are_the_ladders():
    leader = {"id": "ZX004", "role": "section_head", "name": "张晓燕"}
    facts = [("escalated", {"leader": leader, "reason": "unclear_jurisdiction"}, T0),
             ("escalated", {"leader": leader, "reason": "time_limit_breached",
                            "ladder_step": 1}, NOW)]
    [rung] = ladder(facts)
    assert (rung.step, rung.leader_id, rung.leader_name, rung.at) == (1, "ZX004", "张晓燕", NOW)


def test_a_due_day_ends_at_24_00_civil_time():
    assert due_text("2026-12-01T16:00:00Z") == "2026-12-01 24:00"
    assert due_text(datetime(2026, 12, 1, 8, 30, tzinfo=UTC)) == "2026-12-01 16:30"
