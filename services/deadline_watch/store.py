"""deadline-watch's table: the timers of every case.

    replace_timers(conn, case_id, timers, fired_ids)   the case's timers become exactly
        ``timers``: new ones inserted, moved ones updated (back to pending under their new
        id), ones no longer planned cancelled; a timer whose event is already in the stream
        (``fired_ids``) is fired, and a fired or skipped one keeps that state while its id
        stands; replace_timers_many(conn, {case_id: (timers, fired_ids)}) many cases at once
    claim_due(conn, now, limit)     pending timers due by ``now``, locked FOR UPDATE SKIP
                                    LOCKED: two loops never hold the same timer
    settle(conn, keys, state, at)   fired | skipped | cancelled
    set_aside(conn, failures, at)   failed, with the reason (poison isolation)
    failed_timers(conn) / retry_failed(conn)   what an admin sees and puts back
    (the policy book in force is services/calendar/policy_store.py's)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg.types.json import Jsonb

from services.deadline_watch.timers import Timer

# The timers of many cases become exactly the planned rows (each names its case); a case
# given with no row planned has its pending timers cancelled. Rows go in case order.
_REPLACE = """
WITH planned AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s) AS r(case_id text, obligation text, kind text,
        fire_at timestamptz, due_at timestamptz, event_id uuid, responsible_id text,
        working_days_left integer, fired boolean)),
gone AS (
    UPDATE deadline_timers t SET state = 'cancelled', updated_at = now()
    WHERE t.case_id = ANY(%(cases)s) AND t.state = 'pending' AND NOT EXISTS (
        SELECT 1 FROM planned p
        WHERE p.case_id = t.case_id AND p.obligation = t.obligation AND p.kind = t.kind))
INSERT INTO deadline_timers AS t (case_id, obligation, kind, fire_at, due_at, event_id, state,
    responsible_id, working_days_left)
SELECT case_id, obligation, kind, fire_at, due_at, event_id,
    CASE WHEN fired THEN 'fired' ELSE 'pending' END, responsible_id, working_days_left
FROM planned ORDER BY case_id, obligation, kind
ON CONFLICT (case_id, obligation, kind) DO UPDATE SET
    fire_at = EXCLUDED.fire_at, due_at = EXCLUDED.due_at, event_id = EXCLUDED.event_id,
    responsible_id = EXCLUDED.responsible_id, working_days_left = EXCLUDED.working_days_left,
    state = CASE WHEN t.event_id = EXCLUDED.event_id AND t.state IN ('fired', 'skipped')
                 THEN t.state ELSE EXCLUDED.state END,
    updated_at = now()
WHERE (t.event_id, t.fire_at, t.responsible_id, t.working_days_left)
      IS DISTINCT FROM (EXCLUDED.event_id, EXCLUDED.fire_at, EXCLUDED.responsible_id,
                        EXCLUDED.working_days_left)
   OR (t.state = 'cancelled') OR (t.state = 'pending' AND EXCLUDED.state = 'fired')
"""
_CLAIM = """
SELECT case_id, obligation, kind, event_id, fire_at FROM deadline_timers
WHERE state = 'pending' AND fire_at <= %s ORDER BY fire_at LIMIT %s FOR UPDATE SKIP LOCKED
"""
_SETTLE = """
UPDATE deadline_timers t SET state = %(state)s, fired_at = %(at)s, updated_at = now()
FROM unnest(%(cases)s::text[], %(obligations)s::text[], %(kinds)s::text[]) AS k(c, o, k)
WHERE t.case_id = k.c AND t.obligation = k.o AND t.kind = k.k
"""


@dataclass(frozen=True)
class Due:
    case_id: str
    obligation: str
    kind: str
    event_id: UUID
    fire_at: datetime

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.case_id, self.obligation, self.kind)


def replace_timers(conn: psycopg.Connection, case_id: str, timers: list[Timer],
                   fired_ids: set[Any]) -> None:
    replace_timers_many(conn, {case_id: (timers, fired_ids)})


def replace_timers_many(conn: psycopg.Connection,
                        cases: dict[str, tuple[list[Timer], set[Any]]]) -> None:
    """``replace_timers`` for every case of ``cases`` (case id -> timers, fired ids), in
    one statement."""
    if not cases:
        return
    rows = [{"case_id": case_id, **_row(t, fired)}
            for case_id, (timers, fired) in sorted(cases.items()) for t in timers]
    conn.execute(_REPLACE, {"rows": Jsonb(rows, dumps=_dumps), "cases": sorted(cases)})


def _row(t: Timer, fired_ids: set[Any]) -> dict[str, Any]:
    return {"obligation": t.obligation.value, "kind": t.kind, "fire_at": t.fire_at.isoformat(),
            "due_at": t.due_at.isoformat(), "event_id": str(t.event_id),
            "responsible_id": t.responsible_id, "working_days_left": t.working_days_left,
            "fired": t.event_id in fired_ids}


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def claim_due(conn: psycopg.Connection, now: datetime, limit: int) -> list[Due]:
    return [Due(*row) for row in conn.execute(_CLAIM, (now, limit))]


def settle(conn: psycopg.Connection, keys: Iterable[tuple[str, str, str]], state: str,
           at: datetime) -> None:
    keys = list(keys)
    if keys:
        conn.execute(_SETTLE, {"state": state, "at": at, "cases": [k[0] for k in keys],
                               "obligations": [k[1] for k in keys], "kinds": [k[2] for k in keys]})


_SET_ASIDE = """
UPDATE deadline_timers t SET state = 'failed', failure = k.why, fired_at = %(at)s,
    updated_at = now()
FROM unnest(%(cases)s::text[], %(obligations)s::text[], %(kinds)s::text[], %(whys)s::text[])
    AS k(c, o, k, why)
WHERE t.case_id = k.c AND t.obligation = k.o AND t.kind = k.k
"""


def set_aside(conn: psycopg.Connection,
              failures: Iterable[tuple[tuple[str, str, str], str]], at: datetime) -> None:
    failures = list(failures)
    if failures:
        conn.execute(_SET_ASIDE, {"at": at, "cases": [k[0] for k, _ in failures],
                                  "obligations": [k[1] for k, _ in failures],
                                  "kinds": [k[2] for k, _ in failures],
                                  "whys": [why for _, why in failures]})


def failed_timers(conn: psycopg.Connection, limit: int = 1000) -> list[tuple[Any, ...]]:
    """(case, obligation, kind, fire_at, failed at, reason), oldest failure first."""
    return conn.execute(
        "SELECT case_id, obligation, kind, fire_at, fired_at, failure FROM deadline_timers"
        " WHERE state = 'failed' ORDER BY fired_at, case_id LIMIT %s", (limit,)).fetchall()


def retry_failed(conn: psycopg.Connection, case_id: str | None = None) -> int:
    """Put failed timers back to pending (all, or one case's): the next tick tries again."""
    cur = conn.execute(
        "UPDATE deadline_timers SET state = 'pending', failure = NULL, fired_at = NULL,"
        " updated_at = now() WHERE state = 'failed' AND (%(c)s::text IS NULL OR case_id = %(c)s)",
        {"c": case_id})
    return cur.rowcount


def open_timers(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM deadline_timers WHERE state = 'pending'").fetchone()
    return int(row[0]) if row else 0
