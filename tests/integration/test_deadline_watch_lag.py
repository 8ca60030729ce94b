"""What deadline-watch records never depends on how far behind it is, and each decision has
an id of its own: real PostgreSQL, the demo directory, the 2026 calendar; the batch agent's
handler called as its transaction would, with the whole lifecycle already in the store
(a consumer that lagged) or one event at a time (one that kept up).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from functools import reduce

import pytest

from events import CloudEvent
from events.case import (
    CaseAccepted,
    MaterialsSupplied,
    MissingMaterial,
    OneTimeNoticeGiven,
    TimeLimit,
)
from events.case_outcome import CaseCompleted, CaseReplied, Outcome
from events.fields import Channel
from events.registry import EventPayload
from services.calendar.store import load_packaged_if_empty
from services.deadline_watch.service import build
from services.deadline_watch.watch import DeadlineWatch
from services.record.projection import project
from tests.integration.deadline_helpers import HANDLER, Clock, civil, received, stored


@pytest.fixture
def watch(database_url, demo_directory) -> Iterator[DeadlineWatch]:
    load_packaged_if_empty(database_url)
    w, pool = build(database_url, now=Clock(civil(2026, 11, 20)))
    with pool:
        yield w


def store(w: DeadlineWatch, case_id: str, steps: list[tuple[datetime, EventPayload]]
          ) -> list[CloudEvent]:
    """Staff actions appended to the store, none of them consumed yet."""
    return [stored(w, case_id, at, payload) for at, payload in steps]


def consume(w: DeadlineWatch, events: list[CloudEvent]) -> None:
    with w.repo.pool.connection() as conn, conn.transaction():
        w.handle_batch(conn, events)


def stream(w: DeadlineWatch, case_id: str) -> list[CloudEvent]:
    return [r.event for r in w.repo.store.read_stream(case_id)]


def said(w: DeadlineWatch, case_id: str) -> list[tuple[str, str, str]]:
    return [(e.type.split(".")[2], e.data["obligation"], e.data.get("state") or
             ("on time" if e.data.get("on_time") else "late" if "on_time" in e.data else ""))
            for e in stream(w, case_id) if e.actor == "service:deadline-watch"]


def deadlines(w: DeadlineWatch, case_id: str) -> dict[str, dict[str, object]]:
    """case_summary's deadlines, as the ledger projects them from the stream."""
    view = reduce(project, stream(w, case_id), None)
    assert view is not None
    return view.deadlines


def lifecycle(case_id: str, late: bool) -> list[tuple[datetime, EventPayload]]:
    done = civil(2026, 11, 11 if late else 4, 15)  # due Thursday 5 November
    return [
        (civil(2026, 11, 2), received(case_id, Channel.letter)),
        (civil(2026, 11, 2, 11), CaseAccepted(
            handler=HANDLER, time_limit=TimeLimit(working_days=3, due_date=date(2026, 11, 5)))),
        (done, CaseReplied(answer="已答复", channel=Channel.letter)),
        (done, CaseCompleted(outcome=Outcome.resolved, summary="已办结")),
    ]


@pytest.mark.parametrize("late", [False, True], ids=["on-time", "late"])
def test_a_lagging_watch_records_what_one_on_time_would_have(watch, late):
    on_time, lagging = f"C-ONTIME-{late}", f"C-LAG-{late}"
    for event in store(watch, on_time, lifecycle(on_time, late)):
        consume(watch, [event])
    events = store(watch, lagging, lifecycle(lagging, late))  # closed before it is seen
    consume(watch, events)
    if not late:  # late, the on-time one recorded its breach only had its timer loop run
        assert said(watch, lagging) == said(watch, on_time)
    assert deadlines(watch, lagging) == deadlines(watch, on_time)
    summary = deadlines(watch, lagging)
    assert set(summary) == {"forward", "reply", "complete"}
    assert summary["complete"]["state"] == "met"
    assert summary["complete"]["on_time"] is (not late)
    kinds = [k for k, o, _ in said(watch, lagging) if o == "complete"]
    assert kinds == (["deadline_set", "deadline_breached", "deadline_met"] if late
                     else ["deadline_set", "deadline_met"])
    before = len(stream(watch, lagging))
    consume(watch, events)  # redelivered: nothing more
    assert len(stream(watch, lagging)) == before


def test_a_same_day_resume_after_a_one_time_notice_records_its_running_deadline(watch):
    case_id = "C-RESUME"
    steps = lifecycle(case_id, late=False)[:2] + [
        (civil(2026, 11, 3, 9), OneTimeNoticeGiven(
            missing_materials=[MissingMaterial(name="身份证复印件")], notified_via=Channel.window)),
        (civil(2026, 11, 3, 10), MaterialsSupplied(materials=["身份证复印件"], complete=True)),
    ]
    for event in store(watch, case_id, steps):
        consume(watch, [event])
    complete = [(k, s, e.data["due_at"][:10]) for (k, o, s), e in zip(
        said(watch, case_id), [e for e in stream(watch, case_id)
                               if e.actor == "service:deadline-watch"], strict=True)
        if o == "complete"]
    # paused and resumed on the same day: the same due day again, recorded as running
    assert complete == [("deadline_set", "running", "2026-11-05"),
                        ("deadline_set", "paused", "2026-11-05"),
                        ("deadline_set", "running", "2026-11-05")]
    ids = [e.id for e in stream(watch, case_id)]
    assert len(ids) == len(set(ids))
    assert deadlines(watch, case_id)["complete"]["state"] == "running"
    before = len(ids)
    consume(watch, stream(watch, case_id))  # every event redelivered at once
    assert len(stream(watch, case_id)) == before
