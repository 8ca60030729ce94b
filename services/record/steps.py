"""What each kind of event changes in a case's view, set in place on the copy ``project``
made. Pure.

    classified, accepted, one_time_notice_given, materials_supplied, referred,
    handoff_accepted, escalated, transfer_approved, extension_granted   the case's state:
        the transitions of services.domain.case, mirrored (a unit test holds them in step),
        plus the names the ledger shows
    deadline_set / _breached / _met   the deadlines in force, per obligation
    replied, completed, result_delivered, closed, rated, complaint_filed   outcome and flags
    judge(view)   overdue, next_due_at and on_time from what is recorded (after the events
                  in JUDGED_AFTER only)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from events.sealed import ERASED
from services.record.view import LOCAL, CaseView, Event

_REPLY_OBLIGATIONS = ("reply", "complete")

Step = Callable[[CaseView, dict[str, Any], Event], None]


def _add(items: tuple[str, ...], item: str | None) -> tuple[str, ...]:
    return items if item is None or item in items else (*items, item)


def _matter(v: CaseView, d: dict[str, Any], e: Event, how: str) -> None:
    """The matter in force, and its history: each code with who set it (the classifier or
    the accepting handler's correction) and when."""
    code = d.get("matter_type_code")
    if code is None or code == v.matter_type_code:
        return
    v.matter_type_code, v.matter_type_name = code, d.get("matter_type_name")
    v.matter_history = [*v.matter_history, {
        "code": code, "name": d.get("matter_type_name"), "by": how,
        "at": e.time.isoformat(), "version": e.sequence}]


def _classified(v: CaseView, d: dict[str, Any], e: Event) -> None:
    _matter(v, d, e, "classified")
    v.section_id = d.get("handling_section_id") or v.section_id


def _accepted(v: CaseView, d: dict[str, Any], e: Event) -> None:
    _matter(v, d, e, "accepted")
    h = d["handler"]
    v.status, v.handler_id, v.handler_name = "in_handling", h["id"], h["name"]
    v.section_id = d.get("section_id") or v.section_id
    v.participants = _add(v.participants, h["id"])
    v.due_date = date.fromisoformat(d["time_limit"]["due_date"])


def _materials(v: CaseView, d: dict[str, Any], e: Event) -> None:
    if d["complete"]:
        v.status = "in_handling" if v.due_date else "received"


def _referred(v: CaseView, d: dict[str, Any], e: Event) -> None:
    r = d["referral"]
    if r["kind"] == "internal":
        h = r["handler"]
        v.status, v.awaiting_handoff_to, v.section_id = "awaiting_handoff", h["id"], r["section_id"]
        v.units = _add(v.units, r.get("unit_id"))
        v.participants = _add(v.participants, h["id"])
        where = f"{r['section_name']} {h['name']} ({h['contact']})"
        if r.get("address"):
            where += f", {r['address']}" + (f" {r['window']}" if r.get("window") else "")
        unit = r.get("unit_name") or r.get("unit_id")
        v.referral = f"{unit} {where}" if r.get("unit_id") else where
    else:
        v.status = "referred_out"
        v.referral = (f"{r['body_name']}, {r['address']}, {r['contact_phone']},"
                      f" {r['contact_person']}")


def _handoff(v: CaseView, d: dict[str, Any], e: Event) -> None:
    h = d["handler"]
    v.status, v.handler_id, v.handler_name = "in_handling", h["id"], h["name"]
    v.awaiting_handoff_to, v.section_id = None, d.get("section_id") or v.section_id
    v.participants = _add(v.participants, h["id"])


def _escalated(v: CaseView, d: dict[str, Any], e: Event) -> None:
    v.escalated_to, v.escalated = (*v.escalated_to, d["leader"]["id"]), True


def _transfer(v: CaseView, d: dict[str, Any], e: Event) -> None:
    new = d["new_responsible"]
    v.responsible_id = v.handler_id = new["id"]
    v.responsible_name = v.handler_name = new["name"]
    v.participants = _add(v.participants, new["id"])


def _extended(v: CaseView, d: dict[str, Any], e: Event) -> None:
    v.due_date = date.fromisoformat(d["new_due_date"])


def _deadline_set(v: CaseView, d: dict[str, Any], e: Event) -> None:
    entry = {"due_at": d["due_at"], "state": d.get("state", "running"),
             "provisional": d.get("provisional", False), "responsible_id": d.get("responsible_id"),
             "basis": d.get("basis")}
    v.deadlines = {**v.deadlines, d["obligation"]: entry}


def _deadline_mark(state: str) -> Step:
    def step(v: CaseView, d: dict[str, Any], e: Event) -> None:
        old = v.deadlines.get(d["obligation"]) or {"due_at": d["due_at"], "provisional": False,
                                                   "responsible_id": d.get("responsible_id"),
                                                   "basis": None}
        entry = {**old, "state": state}
        if state == "met":
            entry["on_time"] = bool(d["on_time"]) and not d.get("cancelled", False)
            entry["cancelled"] = bool(d.get("cancelled", False))
        v.deadlines = {**v.deadlines, d["obligation"]: entry}
    return step


def _replied(v: CaseView, d: dict[str, Any], e: Event) -> None:
    v.status, v.answer, v.replied_at = "replied", d["answer"], v.replied_at or e.time


def _completed(v: CaseView, d: dict[str, Any], e: Event) -> None:
    v.status, v.outcome, v.summary = "completed", d["outcome"], d["summary"]
    v.completed_at = v.completed_at or e.time


def _closed(v: CaseView, d: dict[str, Any], e: Event) -> None:
    v.status, v.closed_at = "closed", e.time
    v.outcome = v.outcome or f"closed: {d['reason']}"


def _status(status: str) -> Step:
    def step(v: CaseView, d: dict[str, Any], e: Event) -> None:
        v.status = status
    return step


def _rated(v: CaseView, d: dict[str, Any], e: Event) -> None:
    v.rating = d["level"]


def _complaint(v: CaseView, d: dict[str, Any], e: Event) -> None:
    v.complaint_count += 1


PERSONAL = ("inquirer_name", "inquirer_address", "inquirer_work_unit", "inquirer_phone")


def _inquirer_erased(v: CaseView, d: dict[str, Any], e: Event) -> None:
    """Erasure (PIPL Art. 47): the 台账 row keeps that there was an inquirer, not who."""
    for name in PERSONAL:
        if getattr(v, name) is not None:
            setattr(v, name, ERASED)


# The transitions mirror services.domain.case (a unit test holds the two in step).
STEPS: dict[str, Step] = {
    "classified": _classified,
    "matter_chosen": _classified,  # a person picked or corrected the matter
    "accepted": _accepted,
    "one_time_notice_given": _status("awaiting_materials"),
    "materials_supplied": _materials,
    "referred": _referred,
    "handoff_accepted": _handoff,
    "escalated": _escalated,
    "transfer_approved": _transfer,
    "extension_granted": _extended,
    "deadline_set": _deadline_set,
    "deadline_breached": _deadline_mark("breached"),
    "deadline_met": _deadline_mark("met"),
    "replied": _replied,
    "completed": _completed,
    "result_delivered": _status("delivered"),
    "closed": _closed,
    "rated": _rated,
    "complaint_filed": _complaint,
    "inquirer_erased": _inquirer_erased,
}


# the events that can change overdue, next_due_at or on_time
JUDGED_AFTER = frozenset({"accepted", "extension_granted", "deadline_set", "deadline_breached",
                           "deadline_met", "replied", "completed"})


def judge(v: CaseView) -> None:
    """Overdue, the next due time and the on-time judgement, from what is recorded."""
    running = [x["due_at"] for x in v.deadlines.values() if x["state"] == "running"]
    v.next_due_at = min((datetime.fromisoformat(t) for t in running), default=None)
    v.overdue = any(x["state"] == "breached" for x in v.deadlines.values())
    met = [x for k, x in v.deadlines.items() if k in _REPLY_OBLIGATIONS and x["state"] == "met"
           and not x.get("cancelled")]
    answered = v.replied_at or v.completed_at
    if met:
        v.on_time = all(x.get("on_time") for x in met)
    elif answered is not None and v.due_date is not None:
        v.on_time = answered.astimezone(LOCAL).date() <= v.due_date
    elif answered is not None:
        v.on_time = not v.overdue
    else:
        v.on_time = False if v.overdue else None
