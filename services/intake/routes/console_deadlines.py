"""Deadlines in force and the ladder's escalations, read from a case's events. Pure: no I/O.

    facts: (step, data, time) per event, in stream order; step = "deadline_set", ...
      deadline_set       the obligation's due time in force (running or paused)  ─┐
      deadline_breached  ... passed unmet: breached, still in force              ─┼▶ in_force
      deadline_met       ... fulfilled or fallen away: no longer in force        ─┘
      escalated          with ladder_step: deadline-watch brought it to a leader ──▶ ladder

    overdue = breached, or running with its due time already past ``now``; a paused clock
    (waiting for the inquirer's materials) is never overdue.
    due_text(instant) = "2026-12-01 24:00": a due day ends at 24:00 civil time, said so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from services.calendar import CIVIL_TIME

Fact = tuple[str, dict[str, Any], datetime]
DEADLINE_STEPS = ("deadline_set", "deadline_breached", "deadline_met")


@dataclass(frozen=True)
class Deadline:
    obligation: str
    due_at: datetime
    state: str  # running | paused | breached
    provisional: bool  # the year has no loaded official schedule: the date may move
    responsible_id: str | None
    basis: str | None
    overdue: bool


@dataclass(frozen=True)
class Rung:
    step: int
    leader_id: str
    leader_name: str | None
    role: str
    at: datetime


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def in_force(facts: Iterable[Fact], now: datetime) -> list[Deadline]:
    """The open obligations' deadlines, soonest first."""
    open_: dict[str, dict[str, Any]] = {}
    for step, d, _ in facts:
        obligation = d.get("obligation")
        if step not in DEADLINE_STEPS or not obligation:
            continue
        if step == "deadline_met":
            open_.pop(obligation, None)
        elif step == "deadline_set":
            open_[obligation] = {**d, "state": d.get("state", "running")}
        else:  # breached: the clock it breached stays in force until met or moved
            was = open_.get(obligation) or {"due_at": d["due_at"],
                                            "responsible_id": d.get("responsible_id")}
            open_[obligation] = {**was, "state": "breached"}
    out = [_deadline(o, d, now) for o, d in open_.items()]
    return sorted(out, key=lambda x: x.due_at)


def _deadline(obligation: str, d: dict[str, Any], now: datetime) -> Deadline:
    due, state = _when(d["due_at"]), d["state"]
    return Deadline(obligation, due, state, bool(d.get("provisional")), d.get("responsible_id"),
                    d.get("basis"), state == "breached" or (state == "running" and due < now))


def ladder(facts: Iterable[Fact]) -> list[Rung]:
    """deadline-watch's escalations (case.escalated with a ladder step), in order."""
    return [Rung(int(d["ladder_step"]), d["leader"]["id"], d["leader"].get("name"),
                 d["leader"].get("role", ""), at)
            for step, d, at in facts if step == "escalated" and d.get("ladder_step")]


def overdue(deadlines: Iterable[Deadline]) -> bool:
    return any(x.overdue for x in deadlines)


def due_text(when: datetime | str) -> str:
    """A due instant in civil time; midnight is the end of the day before (24:00)."""
    civil = (_when(when) if isinstance(when, str) else when).astimezone(CIVIL_TIME)
    if civil.time() == time(0):
        return f"{(civil - timedelta(days=1)).date().isoformat()} 24:00"
    return civil.strftime("%Y-%m-%d %H:%M")
