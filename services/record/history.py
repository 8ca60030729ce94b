"""Replay one case: ``case_history(conn, case_id, as_of=None, personal=True)``.

    the stream (one query) + its commit_log rows + the directory versions (two small ones)
      ├─ check_chain over the WHOLE stream (an as-of replay still says whether the record
      │  as it stands today is intact)
      └─ fold with the ledger projection, event by event, up to ``as_of`` (events recorded
         at or before it: the record as it stood then), each step giving
            time and recorded_at, the actor resolved to name / post / unit against the
            directory version in force when the event was recorded, what they did and said
            (describe.py), the deadline in force and who held responsibility after it
    CaseHistory.state   the case as of then: case_summary's columns, plus the 台账 fields
                        (the inquirer's data masked unless ``personal``)

Returns None when the case has no events at all. Access checks and the audit row are the
callers' (app.py, cli.py): this only reads. Directory indexes are kept per version (a
version never changes once loaded).
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_loads

from events import CloudEvent
from events.personal import mask_event_data, mask_text
from services.common.eventstore import RecordedEvent
from services.common.pii import open_events
from services.directory.index import DirectoryIndex
from services.directory.model import Directory
from services.record.chain import check_chain
from services.record.describe import describe
from services.record.models import ActorView, CaseHistory, Step
from services.record.projection import CaseView, project
from services.record.sevenhaves import LABELS, missing

PERSONAL_FIELDS = ("inquirer_name", "inquirer_address", "inquirer_work_unit", "inquirer_phone")


_indexes: dict[int, DirectoryIndex] = {}
_lock = threading.Lock()


def _directory(conn: psycopg.Connection, version: int) -> DirectoryIndex:
    with _lock:
        if version in _indexes:
            return _indexes[version]
    row = conn.execute("SELECT document FROM directory_versions WHERE version = %s",
                       (version,)).fetchone()
    assert row is not None
    index = DirectoryIndex(Directory.model_validate(row[0]), version)
    with _lock:
        if len(_indexes) > 32:
            _indexes.clear()
        _indexes[version] = index
    return index


_READ = (
    "SELECT event_id, source, type, stream_id, time, dataschema, actor, causation_id,"
    " correlation_id, version, data, prev_hash, hash, recorded_at, position"
    " FROM events WHERE stream_id = %s ORDER BY version"
)


def read_case(conn: psycopg.Connection, case_id: str) -> tuple[list[RecordedEvent],
                                                                list[tuple[int, bytes]]]:
    """The stream as stored and its commit_log hashes. Events are built without
    re-validation (they were validated when appended; the hash chain vouches for them)."""
    build = CloudEvent.model_construct
    with conn.cursor() as cur:
        set_json_loads(orjson.loads, cur)
        rows = cur.execute(_READ, (case_id,)).fetchall()
        committed = [(int(v), bytes(h)) for v, h in cur.execute(
            "SELECT version, event_hash FROM commit_log WHERE stream_id = %s ORDER BY version",
            (case_id,))]
    recorded = [
        RecordedEvent(
            event=build(id=eid, source=source, type=etype, subject=sid,
                        time=at.astimezone(UTC), dataschema=schema, actor=actor,
                        causationid=cause, correlationid=corr, sequence=version, data=data),
            position=position, hash=bytes(digest), prev_hash=bytes(prev), recorded_at=stored)
        for (eid, source, etype, sid, at, schema, actor, cause, corr, version, data, prev,
             digest, stored, position) in rows
    ]
    return recorded, committed


Read = tuple[list[RecordedEvent], list[tuple[int, bytes]]]


def case_history(conn: psycopg.Connection, case_id: str, as_of: datetime | None = None,
                 personal: bool = True, *, read: Read | None = None) -> CaseHistory | None:
    """The case's history (``read``: what ``read_case`` returned, when the caller has it)."""
    recorded, committed = read if read is not None else read_case(conn, case_id)
    if not recorded or not recorded[0].event.type.startswith("shouwen.case."):
        return None
    check = check_chain(recorded, committed)
    versions = [(int(v), at) for v, at in conn.execute(
        "SELECT version, loaded_at FROM directory_versions ORDER BY version")]
    view: CaseView | None = None
    steps: list[Step] = []
    used: set[int] = set()
    # the chain above was checked on what is stored; the steps show it opened
    opened_events = open_events([r.event for r in recorded], conn)
    for r, opened in zip(recorded, opened_events, strict=True):
        if as_of is not None and r.recorded_at > as_of:
            break
        view = project(view, opened)
        if view is None:
            continue
        index = _in_force(conn, versions, r.recorded_at)
        if index is not None:
            used.add(index.version)
        steps.append(_step(r, opened, view, index, personal))
    first = recorded[0].event.data
    return CaseHistory(
        case_id=case_id, receipt_number=first["receipt_number"], unit_id=first["unit_id"],
        as_of=as_of, generated_at=datetime.now(UTC), personal_data=personal,
        events_total=len(recorded), steps=steps, state=_state(view, personal),
        missing_haves=[f"{k} ({LABELS[k]})" for k in missing(view.seven_haves)] if view else [],
        verification=check, directory_versions=sorted(used),
    )


def _in_force(conn: psycopg.Connection, versions: list[tuple[int, datetime]],
              at: datetime) -> DirectoryIndex | None:
    """The directory version loaded last at or before ``at`` (else the first one)."""
    if not versions:
        return None
    chosen = versions[0][0]
    for version, loaded_at in versions:
        if loaded_at <= at:
            chosen = version
    return _directory(conn, chosen)


def _step(r: RecordedEvent, e: CloudEvent, view: CaseView, index: DirectoryIndex | None,
          personal: bool) -> Step:
    data = e.data if personal else mask_event_data(e.type, e.data)
    did, said = describe(e.type, data)
    return Step(
        version=e.sequence or 0, time=e.time, recorded_at=r.recorded_at, type=e.type,
        actor=_actor(e.actor, index), did=did, said=said, status=view.status,
        responsible_id=view.responsible_id, responsible_name=view.responsible_name,
        deadline_in_force=deadline_in_force(view), event_id=str(e.id), hash=r.hash.hex(),
    )


@lru_cache(maxsize=4096)  # an index is immutable (one per directory version)
def _actor(ref: str, index: DirectoryIndex | None) -> ActorView:
    kind, _, ident = ref.partition(":")
    if kind == "staff" and index is not None and (p := index.person(ident)) is not None:
        roles = ", ".join(role.value for role in p.staff.roles)
        return ActorView(ref=ref, kind=kind, name=p.staff.name, post=f"{p.staff.duty} ({roles})",
                         unit_id=p.unit.id, unit_name=p.unit.name)
    names = {"inquirer": "the inquirer", "service": f"service {ident} (acting by rule)",
             "system": f"system {ident}"}
    return ActorView(ref=ref, kind=kind, name=names.get(kind))


def deadline_in_force(view: CaseView) -> str | None:
    parts = [f"{name} due {d['due_at']}" + (" (paused)" if d["state"] == "paused" else "")
             for name, d in sorted(view.deadlines.items()) if d["state"] in ("running", "paused")]
    if view.due_date is not None:
        parts.insert(0, f"time limit {view.due_date.isoformat()}")
    return "; ".join(parts) or None


def _state(view: CaseView | None, personal: bool) -> dict[str, Any] | None:
    if view is None:
        return None
    state = {**view.summary_row(), **view.ledger_row()}
    for name in PERSONAL_FIELDS:
        if state[name] is not None and not personal:
            state[name] = mask_text(state[name])
    return {k: _plain(v) for k, v in state.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value
