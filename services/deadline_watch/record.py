"""What a case's stream must say of its clocks, whatever the consumer's lag. Pure.

    history(case_id, events, policy, calendar) ─▶ (CaseClocks, {obligation: [Step, ...]})
        the clocks folded once, event by event; every change an event makes to a clock
        (started, moved, paused, resumed, handed to someone else, ended) is a Step: the
        clock after it, and the event that caused it
    record(clocks, steps) ─▶ [(id, payload)]: the deadline_set / deadline_breached /
        deadline_met the stream lacks, in the order of their causes

A deadline-watch that is on time sees one step per event and records it. One that reaches
a case late (closed already) records the whole history it missed: each deadline_set, the
breach of a running clock that its next step came after (the timer would have fired), and
the deadline_met, so what the stream says never depends on how far behind it was.

Ids are unique per decision and deterministic for a redelivery: uuid5 over the causing
event's id, the obligation and what the step says (so a same-day resume after a one-time
notice, which gives the same due time, still has an id of its own). A late breach takes the
breach timer's own id, so the timer loop can never record it a second time. Steps already
in the stream (by id) are skipped, and so is everything before the last of them; a clock
announced under ids this module did not make (an older calendar or release) gets only its
state in force, as before.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from events import CloudEvent
from events.deadline import ClockState, DeadlineBreached, DeadlineMet, Obligation
from events.registry import EventPayload
from services.calendar.policy import UnitPolicy
from services.deadline_watch.calendar_port import Calendar
from services.deadline_watch.clocks import CaseClocks, Clock
from services.deadline_watch.obligations import fold_clocks
from services.deadline_watch.timers import BREACH, _set_payload, event_id

NAMESPACE = uuid.UUID("5e0a7c1e-0000-4000-8000-000000000019")


@dataclass(frozen=True)
class Step:
    clock: Clock  # the clock after the event
    cause: uuid.UUID  # the event's id
    at: datetime  # the event's time
    position: int  # the event's place in the stream

    @property
    def id(self) -> uuid.UUID:
        c = self.clock
        said = (f"met/{c.ended}" if c.ended else
                f"set/{c.state.value}/{c.due_at.isoformat()}/{c.responsible_id}")
        return uuid.uuid5(NAMESPACE, f"{self.cause}/{c.obligation.value}/{said}")


def _says(c: Clock) -> tuple[object, ...]:
    return (c.due_at, c.state, c.responsible_id, c.ended)


def history(case_id: str, events: list[CloudEvent], policy: UnitPolicy, calendar: Calendar
            ) -> tuple[CaseClocks, dict[Obligation, list[Step]]]:
    steps: dict[Obligation, list[Step]] = {}
    last: dict[Obligation, Clock] = {}

    def after(event: CloudEvent, cc: CaseClocks) -> None:
        for o, clock in cc.clocks.items():
            before = last.get(o)
            if before is clock:  # a rule that changes a clock replaces it
                continue
            last[o] = clock
            if before is None or _says(before) != _says(clock):
                steps.setdefault(o, []).append(Step(clock, event.id, event.time, cc.version))

    return fold_clocks(case_id, events, policy, calendar, after), steps


def record(cc: CaseClocks, steps: dict[Obligation, list[Step]]
           ) -> list[tuple[uuid.UUID, EventPayload]]:
    out: list[tuple[int, uuid.UUID, EventPayload]] = []
    for o, hist in steps.items():
        said = cc.announced.get(o)
        known = [i for i, s in enumerate(hist) if s.id in cc.event_ids]
        if known:
            start = known[-1] + 1
        elif said is not None:  # said under other ids: only the state in force
            start = len(hist) - 1
        else:  # never said: everything it went through
            start = 0
        for i in range(start, len(hist)):
            step, nxt = hist[i], hist[i + 1] if i + 1 < len(hist) else None
            out.extend((step.position, eid, p)
                       for eid, p in _said(cc, step, nxt, said, compat=not known and start > 0))
    out.sort(key=lambda item: item[0])  # stable: each obligation's steps keep their order
    once: dict[uuid.UUID, EventPayload] = {}  # a breach outlives a change of the person
    for _, eid, p in out:                      # responsible: once
        once.setdefault(eid, p)
    return list(once.items())


def _said(cc: CaseClocks, step: Step, nxt: Step | None, said: dict[str, object] | None,
          compat: bool) -> list[tuple[uuid.UUID, EventPayload]]:
    c = step.clock
    if c.ended is not None:
        if compat and said is not None and said["type"] == "deadline_met":
            return []
        assert c.ended_at is not None
        return [(step.id, DeadlineMet(obligation=c.obligation, due_at=c.due_at,
                                      on_time=c.ended_at <= c.due_at,
                                      cancelled=c.ended == "cancelled"))]
    out: list[tuple[uuid.UUID, EventPayload]] = []
    if not (nxt is None and said is not None and _same(said, c)):
        out.append((step.id, _set_payload(c)))
    breach = event_id(cc.case_id, c.obligation, BREACH, c.due_at)
    if (nxt is not None and c.state is ClockState.running and nxt.at > c.due_at
            and breach not in cc.event_ids):  # due while running: the timer would have fired
        out.append((breach, DeadlineBreached(obligation=c.obligation, due_at=c.due_at,
                                             responsible_id=c.responsible_id)))
    return out


def _same(said: dict[str, object], c: Clock) -> bool:
    return (said["type"] == "deadline_set"
            and datetime.fromisoformat(str(said["due_at"])) == c.due_at
            and said.get("state") == c.state.value
            and said.get("responsible_id") == c.responsible_id)
