"""A case's state, folded from its events, and which actions its state allows.

    received ──accept──▶ in_handling ──reply──▶ replied ──complete──▶ completed
       │  ╲                  ▲   │                                      │ deliver
       │   ╲ notice          │   └─complete─────────────────────────▶  ▼
       │    ▶ awaiting_materials ─(materials complete)─▶ in_handling   delivered ─close─▶ closed
       ├─refer internal──▶ awaiting_handoff ──handoff accepted──▶ in_handling
       └─refer external──▶ referred_out (the inquirer was told where to go) ─reply/close─▶

Escalation, transfer and extension requests, ratings and complaints do not move the case
along: they are flags beside its status. Pure functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from events import CloudEvent, upcast


class Status(StrEnum):
    received = "received"
    awaiting_materials = "awaiting_materials"
    awaiting_handoff = "awaiting_handoff"
    in_handling = "in_handling"
    referred_out = "referred_out"
    replied = "replied"
    completed = "completed"
    delivered = "delivered"
    closed = "closed"


OPEN = frozenset(Status) - {Status.closed}

# action -> the statuses in which it is allowed
ALLOWED: dict[str, frozenset[Status]] = {
    "classify": frozenset({Status.received}),
    # in_handling: a handler who took a handoff commits the time limit (once: see require)
    "accept": frozenset({Status.received, Status.awaiting_materials, Status.in_handling}),
    "one_time_notice": frozenset({Status.received, Status.in_handling, Status.awaiting_materials}),
    "materials_supplied": frozenset({Status.awaiting_materials}),
    "refer_internal": frozenset({Status.received, Status.in_handling, Status.awaiting_materials}),
    "refer_external": frozenset({Status.received, Status.in_handling}),
    "accept_handoff": frozenset({Status.awaiting_handoff}),
    "escalate": OPEN,
    "request_transfer": OPEN,
    "decide_transfer": OPEN,
    "request_extension": frozenset({Status.in_handling, Status.awaiting_materials}),
    "decide_extension": frozenset({Status.in_handling, Status.awaiting_materials}),
    "reply": frozenset({Status.received, Status.in_handling, Status.referred_out}),
    "complete": frozenset({Status.in_handling, Status.replied}),
    "deliver": frozenset({Status.completed}),
    "close": frozenset({Status.delivered, Status.referred_out, Status.replied}),
    "rate": frozenset({Status.replied, Status.completed, Status.delivered, Status.closed,
                       Status.referred_out}),
    "complain": frozenset(Status),
    "choose_matter": OPEN,  # pick one of routing's suggestions, or correct the matter
}


class ActionNotAllowed(Exception):
    """The action is not allowed in the case's current state (HTTP 409)."""

    def __init__(self, action: str, state: CaseState, reason: str | None = None) -> None:
        self.action, self.state = action, state
        why = reason or f"not allowed while the case is {state.status.value}"
        super().__init__(f"{action}: {why}")


@dataclass(frozen=True)
class CaseState:
    case_id: str
    version: int = 0
    status: Status = Status.received
    unit_id: str | None = None
    receipt_number: str | None = None
    channel: str | None = None
    first_responder_id: str | None = None
    responsible_id: str | None = None  # first responder, until a transfer is approved
    handler_id: str | None = None  # who is handling it now
    section_id: str | None = None
    matter_type_code: str | None = None
    matter_history: tuple[str, ...] = ()  # every matter code in force, oldest first
    awaiting_handoff_to: str | None = None
    notice_materials: frozenset[str] = frozenset()
    due_date: date | None = None
    transfer_pending: bool = False
    extension_pending: bool = False
    escalated_to: tuple[str, ...] = ()
    rated: bool = False
    complaints: int = 0
    acted_by_staff: bool = False  # a person acted after intake (routing then stays out)
    referred_to_body: str | None = None
    units: tuple[str, ...] = ()  # every unit the case has been in
    participants: tuple[str, ...] = ()  # every staff member who held it
    history: tuple[str, ...] = field(default=(), repr=False)

    def require(self, action: str) -> None:
        if self.version == 0:
            raise ActionNotAllowed(action, self, "the case does not exist")
        if self.status not in ALLOWED[action]:
            raise ActionNotAllowed(action, self)
        if action == "accept" and self.status is Status.in_handling and self.due_date:
            raise ActionNotAllowed(action, self, "already accepted with a time limit; "
                                   "ask for an extension instead")
        if action == "decide_transfer" and not self.transfer_pending:
            raise ActionNotAllowed(action, self, "no transfer request is pending")
        if action == "request_transfer" and self.transfer_pending:
            raise ActionNotAllowed(action, self, "a transfer request is already pending")
        if action == "decide_extension" and not self.extension_pending:
            raise ActionNotAllowed(action, self, "no extension request is pending")
        if action == "request_extension" and self.due_date is None:
            raise ActionNotAllowed(action, self, "the case has no time limit to extend")
        if action == "rate" and self.rated:
            raise ActionNotAllowed(action, self, "the case was already rated")

    def public_view(self) -> dict[str, Any]:
        return {"status": self.status.value, "due_date": self.due_date, "rated": self.rated}


def fold(case_id: str, events: list[CloudEvent]) -> CaseState:
    state = CaseState(case_id=case_id)
    for event in events:
        state = apply(state, event)
    return state


def apply(state: CaseState, event: CloudEvent) -> CaseState:
    event = upcast(event)
    name = event.type.split(".")[2]
    changes: dict[str, Any] = {"version": event.sequence or state.version + 1,
                               "history": (*state.history, name)}
    if name != "received" and event.actor.startswith("staff:"):
        changes["acted_by_staff"] = True
    handler = _HANDLERS.get(name)
    if handler is not None:
        changes.update(handler(state, event.data))
    return _evolve(state, changes)


def changes_state(event_type: str) -> bool:
    """Whether an event of this type changes a case's state beyond its version and history
    (a bookkeeping event such as notification_sent does not: appending one needs no fold)."""
    return event_type.split(".")[2] in _HANDLERS


def _evolve(state: CaseState, changes: dict[str, Any]) -> CaseState:
    """``dataclasses.replace`` without its per-call introspection (a fold's hot spot): the
    same fields, every one given or kept; CaseState has no __post_init__ to run."""
    new = object.__new__(CaseState)
    fields = new.__dict__
    fields.update(state.__dict__)
    fields.update(changes)
    return new


def _add(items: tuple[str, ...], item: str | None) -> tuple[str, ...]:
    return items if item is None or item in items else (*items, item)


# Each handler: the fields an event changes, given the state before it and the event's data.
Changes = dict[str, Any]


def _received(s: CaseState, d: dict[str, Any]) -> Changes:
    return {"status": Status.received, "unit_id": d["unit_id"], "channel": d["channel"],
            "units": _add(s.units, d["unit_id"]),
            "participants": _add(s.participants, d["first_responder_id"]),
            "receipt_number": d["receipt_number"],
            "first_responder_id": d["first_responder_id"],
            "responsible_id": d["first_responder_id"], "handler_id": d["first_responder_id"]}


def _matter(s: CaseState, code: str | None) -> Changes:
    if code is None or code == s.matter_type_code:
        return {}
    return {"matter_type_code": code, "matter_history": (*s.matter_history, code)}


def _classified(s: CaseState, d: dict[str, Any]) -> Changes:
    return {**_matter(s, d["matter_type_code"]),
            "section_id": d.get("handling_section_id") or s.section_id}


def _accepted(s: CaseState, d: dict[str, Any]) -> Changes:
    return {"status": Status.in_handling, "handler_id": d["handler"]["id"],
            "section_id": d.get("section_id") or s.section_id,
            "participants": _add(s.participants, d["handler"]["id"]),
            "due_date": date.fromisoformat(d["time_limit"]["due_date"]),
            **_matter(s, d.get("matter_type_code"))}


def _notice(s: CaseState, d: dict[str, Any]) -> Changes:
    names = frozenset(m["name"] for m in d["missing_materials"])
    return {"status": Status.awaiting_materials, "notice_materials": s.notice_materials | names}


def _materials(s: CaseState, d: dict[str, Any]) -> Changes:
    if not d["complete"]:
        return {}
    return {"status": Status.in_handling if s.due_date else Status.received}


def _referred(s: CaseState, d: dict[str, Any]) -> Changes:
    r = d["referral"]
    if r["kind"] == "internal":
        return {"status": Status.awaiting_handoff, "awaiting_handoff_to": r["handler"]["id"],
                "section_id": r["section_id"], "units": _add(s.units, r.get("unit_id")),
                "participants": _add(s.participants, r["handler"]["id"])}
    return {"status": Status.referred_out, "referred_to_body": r["body_name"]}


def _handoff(s: CaseState, d: dict[str, Any]) -> Changes:
    return {"status": Status.in_handling, "handler_id": d["handler"]["id"],
            "awaiting_handoff_to": None, "section_id": d.get("section_id") or s.section_id,
            "participants": _add(s.participants, d["handler"]["id"])}


def _escalated(s: CaseState, d: dict[str, Any]) -> Changes:
    return {"escalated_to": (*s.escalated_to, d["leader"]["id"])}


def _transfer_approved(s: CaseState, d: dict[str, Any]) -> Changes:
    new = d["new_responsible"]["id"]
    return {"transfer_pending": False, "responsible_id": new, "handler_id": new,
            "participants": _add(s.participants, new)}


def _extension_granted(s: CaseState, d: dict[str, Any]) -> Changes:
    return {"extension_pending": False, "due_date": date.fromisoformat(d["new_due_date"])}


_HANDLERS: dict[str, Callable[[CaseState, dict[str, Any]], Changes]] = {
    "received": _received,
    "classified": _classified,
    "matter_chosen": _classified,  # same fields: the matter and its handling section
    "accepted": _accepted,
    "one_time_notice_given": _notice,
    "materials_supplied": _materials,
    "referred": _referred,
    "handoff_accepted": _handoff,
    "escalated": _escalated,
    "transfer_requested": lambda s, d: {"transfer_pending": True},
    "transfer_approved": _transfer_approved,
    "transfer_rejected": lambda s, d: {"transfer_pending": False},
    "extension_requested": lambda s, d: {"extension_pending": True},
    "extension_granted": _extension_granted,
    "extension_refused": lambda s, d: {"extension_pending": False},
    "replied": lambda s, d: {"status": Status.replied},
    "completed": lambda s, d: {"status": Status.completed},
    "result_delivered": lambda s, d: {"status": Status.delivered},
    "closed": lambda s, d: {"status": Status.closed},
    "rated": lambda s, d: {"rated": True},
    "complaint_filed": lambda s, d: {"complaints": s.complaints + 1},
}


def check_notice(state: CaseState, materials: list[str], request_changed: bool) -> None:
    """One-time notice means ALL missing materials at once: a later notice may not ask for
    anything the first did not list, unless the inquirer changed the request."""
    if state.notice_materials and not request_changed:
        new = sorted(set(materials) - state.notice_materials)
        if new:
            raise ActionNotAllowed(
                "one_time_notice", state,
                "a one-time notice was already given; it did not list "
                + ", ".join(new) + " (only allowed if the inquirer changed the request)",
            )
