"""The projection's rows in PostgreSQL: read views back, write them, apply a batch of events.

    load_views(conn, case_ids)     case_summary ⋈ ledger_rows -> {case_id: CaseView}, locked
    save_views(conn, views)        upsert both rows of each case (the consumer): one
                                   statement per table for the batch
    copy_views(conn, views)        COPY into emptied tables (a rebuild)
    truncate(conn)                 empty the projection (never the access audit)
    apply_events(conn, events)     the consumer's batch: per case, in stream order,
                                   skipping versions already applied (a redelivery, or a
                                   rebuild that got there first) and filling a gap from the
                                   event store, the source of truth

Version guard: a case's row carries the last stream version applied, so the projection is
idempotent per case without the inbox (which the consumer keeps anyway), and a rebuild can
run beside a live consumer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from events import CloudEvent, UnknownEventType
from services.common.eventstore import read_streams
from services.common.pii import open_event
from services.record.projection import (
    LEDGER_COLUMNS,
    SUMMARY_COLUMNS,
    CaseView,
    Event,
    is_case_event,
    known,
    project,
)

log = logging.getLogger(__name__)

_LEDGER_ONLY = tuple(c for c in LEDGER_COLUMNS if c not in SUMMARY_COLUMNS)
_SELECT = (
    "SELECT " + ", ".join(f"s.{c}" for c in SUMMARY_COLUMNS) + ", "
    + ", ".join(f"l.{c}" for c in _LEDGER_ONLY)
    + " FROM case_summary s JOIN ledger_rows l ON l.case_id = s.case_id"
    " WHERE s.case_id = ANY(%s)"
)
_JSON = {"deadlines", "seven_haves", "matter_history"}
_ARRAYS = {"units", "participants", "escalated_to", "missing_haves"}


def _upsert_many(table: str, columns: tuple[str, ...]) -> str:
    """Every row of a batch in ONE statement: the rows as a JSON array read into the
    table's own row type (json_populate_recordset), so each column keeps its type."""
    cols = ", ".join(columns)
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "case_id")
    return (f"INSERT INTO {table} ({cols}) SELECT {cols}"
            f" FROM json_populate_recordset(NULL::{table}, %s::json)"
            f" ON CONFLICT (case_id) DO UPDATE SET {sets}")


_UPSERT_SUMMARY_MANY = _upsert_many("case_summary", SUMMARY_COLUMNS)
_UPSERT_LEDGER_MANY = _upsert_many("ledger_rows", LEDGER_COLUMNS)


def _values(row: dict[str, Any], columns: tuple[str, ...]) -> tuple[Any, ...]:
    out = []
    for c in columns:
        v = row[c]
        out.append(Jsonb(v) if c in _JSON else list(v) if c in _ARRAYS else v)
    return tuple(out)


def load_views(conn: psycopg.Connection, case_ids: Iterable[str], *,
               lock: bool = True) -> dict[str, CaseView]:
    ids = sorted(set(case_ids))  # one lock order for every batch: no deadlock between two
    if not ids:
        return {}
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_SELECT + (" ORDER BY s.case_id FOR UPDATE OF s, l" if lock else ""), (ids,))
        return {r["case_id"]: CaseView.from_rows(r, r) for r in cur}


def save_views(conn: psycopg.Connection, views: Iterable[CaseView]) -> None:
    """Upsert both rows of each case: one statement per table for the whole batch (in case
    order: one lock order for every batch)."""
    views = sorted(views, key=lambda v: v.case_id)
    if not views:
        return
    conn.execute(_UPSERT_SUMMARY_MANY, (_rows_json([v.summary_row() for v in views]),))
    conn.execute(_UPSERT_LEDGER_MANY, (_rows_json([v.ledger_row() for v in views]),))


def _rows_json(rows: list[dict[str, Any]]) -> str:
    return orjson.dumps(rows).decode()


def copy_views(conn: psycopg.Connection, views: Iterable[CaseView]) -> int:
    count = 0
    with conn.cursor() as cur:
        with cur.copy(f"COPY case_summary ({', '.join(SUMMARY_COLUMNS)}) FROM STDIN") as copy:
            kept = []
            for v in views:
                copy.write_row(_values(v.summary_row(), SUMMARY_COLUMNS))
                kept.append(v)
                count += 1
        with cur.copy(f"COPY ledger_rows ({', '.join(LEDGER_COLUMNS)}) FROM STDIN") as copy:
            for v in kept:
                copy.write_row(_values(v.ledger_row(), LEDGER_COLUMNS))
    return count


def truncate(conn: psycopg.Connection) -> None:
    conn.execute("TRUNCATE case_summary, ledger_rows")


def apply_events(conn: psycopg.Connection, events: list[CloudEvent],
                 on_gap: Callable[[], None] | None = None) -> int:
    """Apply a batch (in delivery order) inside the caller's transaction; returns how many
    cases changed. ``on_gap`` is called for every gap read from the store (metrics)."""
    by_case: dict[str, list[CloudEvent]] = {}
    for event in events:
        if is_case_event(event):
            by_case.setdefault(event.subject, []).append(event)
    views = load_views(conn, by_case)
    changed: dict[str, CaseView] = {}
    for case_id, case_events in by_case.items():
        view = views.get(case_id)
        for event in case_events:
            view = advance(conn, view, event, on_gap)
        if view is not None and view is not views.get(case_id):
            changed[case_id] = view
    save_views(conn, changed.values())
    return len(changed)


def advance(conn: psycopg.Connection, view: CaseView | None, event: Event,
            on_gap: Callable[[], None] | None = None) -> CaseView | None:
    """``view`` after ``event``: unchanged when that version is applied already; a gap
    before it (a message the topic no longer holds) is read from the store first."""
    if not is_case_event(event):
        return view
    if not known(event.type):  # before the version guard: it must never move it
        raise UnknownEventType(f"unknown event type {event.type!r}: not projected")
    have = view.version if view is not None else 0
    version = event.sequence if event.sequence is not None else have + 1
    if version <= have:
        return view
    if version > have + 1:
        log.warning("ledger: case %s jumps from version %d to %d; reading the gap from the"
                    " store", event.subject, have, version)
        if on_gap is not None:
            on_gap()
        for recorded in read_streams(conn, [event.subject]).get(event.subject, []):
            if have < (recorded.event.sequence or 0) < version:
                view = project(view, open_event(recorded.event, conn))
    return project(view, open_event(event, conn))
