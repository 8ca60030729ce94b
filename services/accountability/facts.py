"""The year's facts for an evaluation, read from the event store and case_index.

    the year's cases    received in the calendar year (civil time, Asia/Shanghai) and
                        attributed to the person responsible for them (the first responder,
                        unless a transfer was approved) or to the unit that received them
    their events        replied, completed (outcome), rated (v1 upcast to the five levels),
                        deadline_met / deadline_breached — whenever they happened: a case
                        counts in the year it came in, so every rate stays within 0..1

Reads only; no rule lives here (``evaluation`` decides what the facts mean).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from events.case_outcome import SatisfactionLevel, rated_v1_to_v2
from services.accountability.evaluation import CaseFacts, DeadlineFact
from services.calendar import CIVIL_TIME

SUBJECT_COLUMN = {"staff": "responsible_id", "unit": "unit_id"}
T = "shouwen.case."
TYPES = [T + "replied.v1", T + "completed.v1", T + "rated.v1", T + "rated.v2",
         T + "deadline_met.v1", T + "deadline_breached.v1"]
EVENTS = """
    SELECT e.stream_id, e.type, e.data->>'outcome', e.data->>'level', e.data->>'score',
           e.data->>'obligation', coalesce((e.data->>'on_time')::boolean, false),
           coalesce((e.data->>'cancelled')::boolean, false)
    FROM events e WHERE e.stream_id = ANY(%s) AND e.type = ANY(%s)
    ORDER BY e.stream_id, e.version"""


def year_bounds(year: int) -> tuple[datetime, datetime]:
    return (datetime(year, 1, 1, tzinfo=CIVIL_TIME), datetime(year + 1, 1, 1, tzinfo=CIVIL_TIME))


def year_facts(conn: psycopg.Connection, kind: str, subject_id: str,
               year: int) -> tuple[list[CaseFacts], list[DeadlineFact]]:
    column = SUBJECT_COLUMN[kind]
    start, end = year_bounds(year)
    case_ids = [str(r[0]) for r in conn.execute(
        f"SELECT case_id FROM case_index WHERE {column} = %s AND opened_at >= %s"
        " AND opened_at < %s", (subject_id, start, end))]
    cases: dict[str, dict[str, Any]] = {
        c: {"replied": False, "completed": False, "resolved": False, "rating": None}
        for c in case_ids}
    deadlines: list[DeadlineFact] = []
    rows = conn.execute(EVENTS, (case_ids, TYPES)).fetchall() if case_ids else []
    for case_id, type_, outcome, level, score, obligation, on_time, cancelled in rows:
        name, facts = type_.split(".")[2], cases[case_id]
        if name == "replied":
            facts["replied"] = True
        elif name == "completed":  # the last completion's outcome counts
            facts.update(completed=True, resolved=outcome == "resolved")
        elif name == "rated":
            facts["rating"] = SatisfactionLevel(
                level if level is not None else rated_v1_to_v2({"score": int(score)})["level"])
        else:
            deadlines.append(DeadlineFact(case_id, obligation, breached=name == "deadline_breached",
                                          on_time=on_time, cancelled=cancelled))
    return [CaseFacts(**f) for f in cases.values()], deadlines
