"""deadline-watch against the real PostgreSQL, the demo directory and the 2026 calendar:
the ladder on a controllable clock, pause and extension, two replicas, a failed tick,
rebuild. No broker: the consumer's handler is called as its inbox transaction would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest

from events import CloudEvent, new_event
from events.case import (
    CaseAccepted,
    ExtensionGranted,
    MaterialsSupplied,
    MissingMaterial,
    OneTimeNoticeGiven,
    TimeLimit,
)
from events.case_outcome import CaseCompleted, Outcome
from events.fields import Channel, LeaderRef, LeaderRole
from events.registry import EventPayload
from services.calendar.store import load_packaged_if_empty
from services.deadline_watch.calendar_port import end_of_day
from services.deadline_watch.service import build, rebuild
from services.deadline_watch.watch import DeadlineWatch
from tests.integration.deadline_helpers import HANDLER, Clock, civil, received, stored

LEADER = LeaderRef(id="ZX002", role=LeaderRole.supervising_leader)
TIMER_ROW = ("SELECT case_id, obligation, kind, fire_at, due_at, event_id, state, responsible_id"
             " FROM deadline_timers WHERE state <> 'cancelled' ORDER BY 1, 2, 3")


@pytest.fixture
def clock() -> Clock:
    return Clock(civil(2026, 9, 28))


@pytest.fixture
def watch(database_url, demo_directory, clock) -> Iterator[DeadlineWatch]:
    load_packaged_if_empty(database_url)  # the official 2026 schedule
    w, pool = build(database_url, now=clock)
    with pool:
        yield w


def replica(database_url: str, clock: Clock, batch_size: int) -> DeadlineWatch:
    from services.deadline_watch.service import DeadlineSettings

    return build(database_url, now=clock, ds=DeadlineSettings(batch_size=batch_size))[0]


def append(w: DeadlineWatch, case_id: str, at: datetime, payload: EventPayload,
           actor: str = "staff:ZX005") -> CloudEvent:
    """A staff action on the case, then deadline-watch's consumer on it."""
    event = stored(w, case_id, at, payload, actor)
    with w.repo.pool.connection() as conn, conn.transaction():
        w.handle(conn, event)
    return event


def receive(w: DeadlineWatch, case_id: str, at: datetime,
            channel: Channel = Channel.phone) -> CloudEvent:
    return append(w, case_id, at, received(case_id, channel))


def written(w: DeadlineWatch, case_id: str, *names: str) -> list[CloudEvent]:
    events = [r.event for r in w.repo.store.read_stream(case_id)]
    return [e for e in events if e.actor == "service:deadline-watch"
            and (not names or e.type.split(".")[2] in names)]


def timers(w: DeadlineWatch, case_id: str) -> dict[tuple[str, str], tuple[datetime, str]]:
    with w.repo.pool.connection() as conn:
        rows = conn.execute("SELECT obligation, kind, fire_at, state FROM deadline_timers"
                            " WHERE case_id = %s", (case_id,)).fetchall()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def test_a_breached_case_climbs_the_ladder_one_step_and_one_event_at_a_time(watch, clock):
    receive(watch, "C-LADDER", civil(2026, 9, 28))  # Monday; forward due Wednesday 30
    [set_] = written(watch, "C-LADDER", "deadline_set")
    assert set_.data["due_at"] == end_of_day(date(2026, 9, 30)).isoformat().replace("+00:00", "Z")
    assert set_.data["provisional"] is False and set_.data["calendar_id"] == "CN"
    steps = [
        (civil(2026, 9, 30, 11, 37), "deadline_warned", None),  # 80% of 62 h: 11:36
        (civil(2026, 10, 1, 0, 1), "deadline_breached", None),
        (civil(2026, 10, 9, 0, 1), "escalated", ("ZX004", 1)),  # after the holiday week
        (civil(2026, 10, 10, 0, 1), "escalated", ("ZX002", 2)),
        (civil(2026, 10, 11, 0, 1), "escalated", ("ZX001", 3)),  # Sat 10 Oct was worked
    ]
    seen = 1
    for at, name, leader in steps:
        clock.at = at - timedelta(minutes=2)
        assert watch.tick() == 0  # not yet
        clock.at = at
        assert watch.tick() == 1
        new = written(watch, "C-LADDER")[seen:]
        assert [e.type.split(".")[2] for e in new] == [name]
        if leader:
            assert (new[0].data["leader"]["id"], new[0].data["ladder_step"]) == leader
            assert new[0].data["reason"] == "time_limit_breached"
        else:
            assert new[0].data["responsible_id"] == "ZX005"
        seen += 1
    clock.at = civil(2026, 12, 31)
    assert watch.tick() == 0
    assert {s for _, s in timers(watch, "C-LADDER").values()} == {"fired"}


def test_a_pause_and_an_extension_move_the_deadline_and_its_timers(watch, clock):
    receive(watch, "C-MOVE", civil(2026, 11, 2), Channel.phone)
    append(watch, "C-MOVE", civil(2026, 11, 2, 11), CaseAccepted(
        handler=HANDLER, time_limit=TimeLimit(working_days=5, due_date=date(2026, 11, 9))))
    assert timers(watch, "C-MOVE")[("complete", "breach")] == (
        end_of_day(date(2026, 11, 9)), "pending")
    append(watch, "C-MOVE", civil(2026, 11, 3), OneTimeNoticeGiven(
        missing_materials=[MissingMaterial(name="身份证复印件")], notified_via=Channel.window))
    assert timers(watch, "C-MOVE")[("complete", "breach")][1] == "cancelled"
    clock.at = civil(2026, 11, 10)  # past the first due time, while paused: nothing fires
    assert watch.tick() == 0
    append(watch, "C-MOVE", civil(2026, 11, 12), MaterialsSupplied(
        materials=["身份证复印件"], complete=True))
    assert timers(watch, "C-MOVE")[("complete", "breach")] == (
        end_of_day(date(2026, 11, 18)), "pending")  # 4 working days were left
    append(watch, "C-MOVE", civil(2026, 11, 13), ExtensionGranted(
        approver=LEADER, new_due_date=date(2026, 11, 27), reason="需要现场核查"))
    assert timers(watch, "C-MOVE")[("complete", "breach")] == (
        end_of_day(date(2026, 11, 27)), "pending")
    states = [(e.data["state"], e.data["due_at"][:10]) for e in
              written(watch, "C-MOVE", "deadline_set") if e.data["obligation"] == "complete"]
    assert states == [("running", "2026-11-09"), ("paused", "2026-11-09"),
                      ("running", "2026-11-18"), ("running", "2026-11-27")]
    clock.at = civil(2026, 11, 19)
    watch.tick()
    assert not written(watch, "C-MOVE", "deadline_breached")


def test_an_obligation_met_before_the_consumer_saw_it_is_not_reported_breached(watch, clock):
    receive(watch, "C-MET", civil(2026, 11, 2))
    append(watch, "C-MET", civil(2026, 11, 2, 11), CaseAccepted(
        handler=HANDLER, time_limit=TimeLimit(working_days=1, due_date=date(2026, 11, 3))))
    completed = new_event(CaseCompleted(outcome=Outcome.resolved, summary="已办结"),
                          subject="C-MET", actor="staff:ZX005", time=civil(2026, 11, 3, 16))
    with watch.repo.pool.connection() as conn, conn.transaction():
        watch.repo.append(watch.repo.load("C-MET", conn), [completed], conn)  # not consumed
    clock.at = civil(2026, 11, 4, 1)
    watch.tick()
    assert not written(watch, "C-MET", "deadline_breached", "deadline_warned")
    assert timers(watch, "C-MET")[("complete", "breach")][1] == "cancelled"
    with watch.repo.pool.connection() as conn, conn.transaction():
        watch.handle(conn, completed)
    [met] = [e.data for e in written(watch, "C-MET", "deadline_met")
             if e.data["obligation"] == "complete"]
    assert met["on_time"] is True and met["cancelled"] is False


def test_two_replicas_ticking_at_once_fire_every_timer_exactly_once(watch, clock, database_url):
    cases = [f"C-R{i:03d}" for i in range(60)]
    for case_id in cases:
        receive(watch, case_id, civil(2026, 9, 28))
    clock.at = civil(2026, 10, 12)  # everything due: warning, breach, three ladder steps
    replicas = [replica(database_url, clock, batch_size=7) for _ in range(2)]
    gate = threading.Barrier(2)

    def drain(w: DeadlineWatch) -> None:
        gate.wait()
        while w.tick():
            pass

    threads = [threading.Thread(target=drain, args=(w,)) for w in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for w in replicas:
        w.repo.pool.close()
    for case_id in cases:
        fired = [e.type.split(".")[2] + str(e.data.get("ladder_step") or "")
                 for e in written(watch, case_id) if e.type.split(".")[2] != "deadline_set"]
        assert sorted(fired) == ["deadline_breached", "deadline_warned",
                                 "escalated1", "escalated2", "escalated3"], case_id
    with watch.repo.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM deadline_timers WHERE state = 'pending'"
                            ).fetchone() == (0,)


class Crash(RuntimeError):
    pass


def test_a_tick_that_dies_midway_loses_nothing_and_the_next_fires_once(watch, clock):
    for case_id in ("C-K1", "C-K2"):
        receive(watch, case_id, civil(2026, 9, 28))
    clock.at = civil(2026, 10, 1, 0, 5)
    real = watch.repo.append_many

    def dies(*args, **kwargs):
        real(*args, **kwargs)  # the events went in ... and the process died before commit
        raise Crash

    watch.repo.append_many = dies  # type: ignore[method-assign]
    with pytest.raises(Crash):
        watch.tick()
    watch.repo.append_many = real  # type: ignore[method-assign]
    assert not written(watch, "C-K1", "deadline_breached")  # rolled back with the tick
    assert watch.tick() == 4  # warning + breach, both cases
    assert watch.tick() == 0
    for case_id in ("C-K1", "C-K2"):
        assert len(written(watch, case_id, "deadline_breached")) == 1
        assert len(written(watch, case_id, "deadline_warned")) == 1


def test_redelivery_changes_nothing_and_a_rebuild_equals_the_incremental_timers(watch, clock):
    received = receive(watch, "C-B1", civil(2026, 9, 28), Channel.letter)
    receive(watch, "C-B2", civil(2026, 11, 2))
    append(watch, "C-B2", civil(2026, 11, 2, 11), CaseAccepted(
        handler=HANDLER, time_limit=TimeLimit(working_days=5, due_date=date(2026, 11, 9))))
    append(watch, "C-B2", civil(2026, 11, 3), OneTimeNoticeGiven(
        missing_materials=[MissingMaterial(name="户口簿")], notified_via=Channel.window))
    append(watch, "C-B2", civil(2026, 11, 5), MaterialsSupplied(materials=["户口簿"],
                                                               complete=True))
    clock.at = civil(2026, 10, 9, 0, 1)
    while watch.tick():
        pass
    with watch.repo.pool.connection() as conn:
        incremental = conn.execute(TIMER_ROW).fetchall()
        before = watch.repo.store.stream_version("C-B1", conn=conn)
    with watch.repo.pool.connection() as conn, conn.transaction():
        watch.handle(conn, received)  # redelivered
    with watch.repo.pool.connection() as conn:
        assert conn.execute(TIMER_ROW).fetchall() == incremental
        assert watch.repo.store.stream_version("C-B1", conn=conn) == before
        conn.execute("DELETE FROM deadline_timers")
    assert rebuild(watch) == 2
    with watch.repo.pool.connection() as conn:
        assert conn.execute(TIMER_ROW).fetchall() == incremental
    forward = {k: s for (o, k), (_, s) in timers(watch, "C-B1").items() if o == "forward"}
    assert forward == {"warn": "fired", "breach": "fired", "escalate-1": "fired",
                       "escalate-2": "pending", "escalate-3": "pending"}


def test_a_timer_planned_on_an_older_calendar_is_re_planned_when_due_not_lost(watch, clock):
    receive(watch, "C-OLD", civil(2026, 9, 28))
    with watch.repo.pool.connection() as conn:  # as if planned before a new schedule loaded
        conn.execute("UPDATE deadline_timers SET event_id = gen_random_uuid(),"
                     " fire_at = fire_at - interval '1 day' WHERE kind = 'breach'")
    clock.at = civil(2026, 9, 30, 0, 30)  # the old breach time; the warning is not due yet
    assert watch.tick() == 1  # re-planned, nothing fired
    assert not written(watch, "C-OLD", "deadline_breached")
    assert timers(watch, "C-OLD")[("forward", "breach")] == (
        end_of_day(date(2026, 9, 30)), "pending")
    clock.at = civil(2026, 10, 1, 0, 1)
    while watch.tick():
        pass
    assert len(written(watch, "C-OLD", "deadline_breached")) == 1
