"""The ledger's projection: a case's events, one at a time, into its read-model rows. Pure.

    project(view | None, event) ─▶ CaseView | None    (None: not a case event / no case yet)
      ├─ a superseded event type (rated.v1) is upcast first; a type not registered
  │  (received.v9, teleported.v1) raises UnknownEventType: never projected as another
      ├─ received: a new view (view.py); any other: ONE shallow copy, then steps.py sets
      │  what the event changes (state, names, deadlines, 台账 fields, flags) in place —
      │  folding through dataclasses.replace() per field group cost most of a rebuild
      └─ the seven haves (sevenhaves.py) and the on-time judgement (steps.judge)
    CaseView.summary_row() / ledger_row()   the case_summary and ledger_rows columns
    CaseView.from_rows(summary, ledger)     back again: a row read is the state, exactly

The input view is never changed, so callers may keep it (the consumer compares).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from events import CloudEvent, UnknownEventType, registered_types, upcast
from services.record.sevenhaves import haves_after, missing
from services.record.steps import JUDGED_AFTER, STEPS, judge
from services.record.view import LEDGER_COLUMNS, LOCAL, SUMMARY_COLUMNS, CaseView, Event

__all__ = ["LEDGER_COLUMNS", "LOCAL", "SUMMARY_COLUMNS", "CaseView", "Event", "is_case_event",
           "lifted", "project"]

CASE_PREFIX = "shouwen.case."


@cache
def _superseded() -> frozenset[str]:
    """Types with a newer version registered (e.g. rated.v1): those are upcast first."""
    newest: dict[str, int] = {}
    for name in registered_types():
        base, _, version = name.rpartition(".v")
        newest[base] = max(newest.get(base, 0), int(version))
    return frozenset(n for n in registered_types()
                     if int(n.rpartition(".v")[2]) < newest[n.rpartition(".v")[0]])


@cache
def _known() -> frozenset[str]:
    return frozenset(registered_types())


def known(event_type: str) -> bool:
    """Registered, or lifted by upcasters to a registered type (received.v9 is neither)."""
    return event_type in _known() or event_type in _superseded()


def lifted(event: Event) -> Event:
    if event.type not in _superseded():
        if event.type not in _known():
            raise UnknownEventType(f"unknown event type {event.type!r}: not projected")
        return event
    if not isinstance(event, CloudEvent):
        event = CloudEvent.model_construct(**event._asdict())  # type: ignore[attr-defined]
    return upcast(event)


def is_case_event(event: Event) -> bool:
    return event.type.startswith(CASE_PREFIX)


def project(view: CaseView | None, event: Event) -> CaseView | None:
    """The view after ``event`` (already applied versions are the caller's to skip). The
    given view is never changed: the result is a new one (one shallow copy per event, then
    set field by field: ``dataclasses.replace`` on this many fields was most of the cost)."""
    if not is_case_event(event):
        return view
    event = lifted(event)  # the full type, version and all, must be known
    name, d = event.type.split(".")[2], event.data
    if view is None:
        if name != "received":
            return None
        v = _received(event, d)
    else:
        v = _copy(view)
        v.version, v.updated_at = event.sequence or view.version + 1, event.time
        step = STEPS.get(name)
        if step is not None:
            step(v, d, event)
    haves = haves_after(v.seven_haves, name, d)
    if haves is not v.seven_haves:
        v.seven_haves, v.missing_haves = haves, missing(haves)
    if view is None or name in JUDGED_AFTER:
        judge(v)
    return v


def _copy(view: CaseView) -> CaseView:
    new = object.__new__(CaseView)
    new.__dict__.update(view.__dict__)
    return new


def _received(event: Event, d: dict[str, Any]) -> CaseView:
    return CaseView(
        case_id=event.subject, unit_id=d["unit_id"], receipt_number=d["receipt_number"],
        channel=d["channel"], received_at=event.time,
        first_responder_id=d["first_responder_id"],
        first_responder_name=d["first_responder_name"], problem=d["matter"],
        version=event.sequence or 1, updated_at=event.time,
        responsible_id=d["first_responder_id"], responsible_name=d["first_responder_name"],
        handler_id=d["first_responder_id"], handler_name=d["first_responder_name"],
        units=(d["unit_id"],), participants=(d["first_responder_id"],),
        inquirer_name=d.get("inquirer_name"), inquirer_address=d.get("inquirer_address"),
        inquirer_work_unit=d.get("inquirer_work_unit"), inquirer_phone=d.get("inquirer_phone"),
    )
