"""The console's own reads beside the commands (the in-app inbox is services/inapp's).

    events (through the store, upcast)
        deadline_facts(conn, case_ids)            case -> its deadline_* and escalated events,
                                                  for console_deadlines (My cases, the queue)
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from services.common.eventstore import read_kinds
from services.intake.routes.console_deadlines import DEADLINE_STEPS, Fact

_FACT_KINDS = frozenset(f"shouwen.case.{step}" for step in (*DEADLINE_STEPS, "escalated"))


def deadline_facts(conn: psycopg.Connection, case_ids: Sequence[str]) -> dict[str, list[Fact]]:
    out: dict[str, list[Fact]] = {c: [] for c in case_ids}
    if not case_ids:
        return out
    for case_id, events in read_kinds(conn, case_ids, _FACT_KINDS).items():
        out[case_id] = [(e.type.split(".")[2], e.data, e.time) for e in events]
    return out
