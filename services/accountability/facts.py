"""The year's facts for an evaluation, read from the event store and case_index.

    the year's cases    received in the calendar year (civil time, Asia/Shanghai) and
                        attributed to the person responsible for them (the first responder,
                        unless a transfer was approved) or to the unit that received them
    their events        replied, completed (outcome), rated (read through the event store,
                        so v1 comes upcast to the five levels),
                        deadline_met / deadline_breached — whenever they happened: a case
                        counts in the year it came in, so every rate stays within 0..1

Reads only; no rule lives here (``evaluation`` decides what the facts mean).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from events.case_outcome import SatisfactionLevel
from services.accountability.evaluation import CaseFacts, DeadlineFact
from services.calendar import CIVIL_TIME
from services.cases.index import opened_between
from services.common.eventstore import read_kinds

T = "shouwen.case."
# kinds, not types: the store upcasts (rated.v1 reads as rated.v2, with its level)
KINDS = frozenset(T + k for k in ("replied", "completed", "rated", "deadline_met",
                                  "deadline_breached"))


def year_bounds(year: int) -> tuple[datetime, datetime]:
    return (datetime(year, 1, 1, tzinfo=CIVIL_TIME), datetime(year + 1, 1, 1, tzinfo=CIVIL_TIME))


def year_facts(conn: psycopg.Connection, kind: str, subject_id: str,
               year: int) -> tuple[list[CaseFacts], list[DeadlineFact]]:
    start, end = year_bounds(year)
    case_ids = opened_between(conn, kind, subject_id, start, end)
    cases: dict[str, dict[str, Any]] = {
        c: {"replied": False, "completed": False, "resolved": False, "rating": None}
        for c in case_ids}
    deadlines: list[DeadlineFact] = []
    streams = read_kinds(conn, case_ids, KINDS)
    for case_id, events in sorted(streams.items()):
        facts = cases[case_id]
        for event in events:
            name, data = event.type.split(".")[2], event.data
            if name == "replied":
                facts["replied"] = True
            elif name == "completed":  # the last completion's outcome counts
                facts.update(completed=True, resolved=data.get("outcome") == "resolved")
            elif name == "rated":
                facts["rating"] = SatisfactionLevel(data["level"])
            else:
                deadlines.append(DeadlineFact(
                    case_id, data["obligation"], breached=name == "deadline_breached",
                    on_time=bool(data.get("on_time", False)),
                    cancelled=bool(data.get("cancelled", False))))
    return [CaseFacts(**f) for f in cases.values()], deadlines
