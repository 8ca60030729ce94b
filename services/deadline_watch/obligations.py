"""Which obligations of a case are open, and when each is due, folded from its events.

    received ──▶ forward (2) , reply (3, letters/visits/online/hotline)
    accepted ──▶ forward met; complete (the committed time limit: its due_date stands)
    referred internal ─▶ forward met; accept_referral (2, the RECEIVING unit's policy);
                         complete cancelled (new handler)
    referred external ─▶ forward met; reply, complete, accept_referral cancelled
    handoff_accepted ──▶ accept_referral met          replied ─▶ reply met
    one_time_notice_given ─▶ reply, complete paused (the remaining working days kept)
    materials_supplied(complete) ─▶ resumed: due = resume + remaining working days
    extension_granted ─▶ complete due = end of new_due_date     completed ─▶ complete met
    closed ─▶ everything still open cancelled
    investigation_started (30) ─extended (+15)─▶ decided: met; decision_delivery (10)
    decision_delivered ─▶ met; review_request (15 days) ─requested─▶ review_decision (30 days)
    accountability_closed ─▶ the procedure's clocks cancelled

Pure: events in, ``CaseClocks`` (services.deadline_watch.clocks) out; the calendar and the
unit's policy are arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from events import CloudEvent, upcast
from events.deadline import Obligation
from services.calendar.policy import UnitPolicy
from services.deadline_watch.calendar_port import INSTANT, Calendar
from services.deadline_watch.clocks import CaseClocks, Clock, Fold

__all__ = ["CaseClocks", "Clock", "fold_clocks", "unit_of"]
Ob = Obligation
CASE_CLOCKS = (Ob.forward, Ob.reply, Ob.complete, Ob.accept_referral)
PROCEDURE_CLOCKS = (Ob.investigation, Ob.decision_delivery, Ob.review_request, Ob.review_decision)


def _received(f: Fold, d: dict[str, Any], at: datetime) -> None:
    c = f.c
    c.unit_id, c.responsible_id = d["unit_id"], d["first_responder_id"]
    c.handler_id = c.responsible_id
    f.start(Ob.forward, at, f.policy.forward_working_days, responsible=c.responsible_id)
    if d["channel"] in f.policy.reply_channels:
        f.start(Ob.reply, at, f.policy.reply_working_days, responsible=c.responsible_id)


def _accepted(f: Fold, d: dict[str, Any], at: datetime) -> None:
    f.c.handler_id = d["handler"]["id"]
    f.c.section_id = d.get("section_id") or f.c.section_id
    f.end(Ob.forward, "met", at)
    limit = d["time_limit"]
    f.start(Ob.complete, at, int(limit["working_days"]), responsible=f.c.handler_id,
            committed=date.fromisoformat(limit["due_date"]))


def _referred(f: Fold, d: dict[str, Any], at: datetime) -> None:
    r = d["referral"]
    f.end(Ob.forward, "met", at)
    if r["kind"] == "internal":
        f.c.section_id = r["section_id"]
        f.c.unit_id = r.get("unit_id") or f.c.unit_id
        f.end(Ob.complete, "cancelled", at)
        # the unit that must accept bears the obligation: its policy sets the limit
        f.start(Ob.accept_referral, at, f.policy.accept_referral_days(r.get("unit_id")),
                responsible=r["handler"]["id"])
    else:
        for o in (Ob.reply, Ob.complete, Ob.accept_referral):
            f.end(o, "cancelled", at)


def _handoff(f: Fold, d: dict[str, Any], at: datetime) -> None:
    f.c.handler_id = d["handler"]["id"]
    f.c.section_id = d.get("section_id") or f.c.section_id
    f.end(Ob.accept_referral, "met", at)


def _notice(f: Fold, d: dict[str, Any], at: datetime) -> None:
    f.pause(Ob.reply, at)
    f.pause(Ob.complete, at)


def _materials(f: Fold, d: dict[str, Any], at: datetime) -> None:
    if d["complete"]:
        f.resume(Ob.reply, at)
        f.resume(Ob.complete, at)


def _transfer(f: Fold, d: dict[str, Any], at: datetime) -> None:
    new = d["new_responsible"]["id"]
    f.c.responsible_id = f.c.handler_id = new
    for o in (Ob.forward, Ob.reply, Ob.complete):
        f.responsible(o, new)


def _completed(f: Fold, d: dict[str, Any], at: datetime) -> None:
    f.end(Ob.complete, "met", at)
    f.end(Ob.reply, "met", at)
    f.end(Ob.forward, "met", at)
    f.end(Ob.accept_referral, "cancelled", at)


def _closed(f: Fold, d: dict[str, Any], at: datetime) -> None:
    for o in CASE_CLOCKS:
        f.end(o, "cancelled", at)


def _investigation(f: Fold, d: dict[str, Any], at: datetime) -> None:
    days = d.get("limit_working_days") or f.policy.investigation_working_days
    f.start(Ob.investigation, at, int(days))


def _extended(f: Fold, d: dict[str, Any], at: datetime) -> None:
    clock = f.c.clocks.get(Ob.investigation)
    if clock is not None and clock.open:
        extra = int(d.get("extra_working_days") or f.policy.investigation_extension_working_days)
        f.move(Ob.investigation, f.cal.add_working_days(clock.due_at - INSTANT, extra).day)


def _step(met: Obligation | None, then: Obligation | None,
          unit: Callable[[UnitPolicy], tuple[int | None, int | None]] | None = None
          ) -> Callable[[Fold, dict[str, Any], datetime], None]:
    def handle(f: Fold, d: dict[str, Any], at: datetime) -> None:
        if met is not None:
            f.end(met, "met", at)
        if then is not None and unit is not None:
            working, days = unit(f.policy)
            f.start(then, at, working, days)
    return handle


def _procedure_closed(f: Fold, d: dict[str, Any], at: datetime) -> None:
    for o in PROCEDURE_CLOCKS:
        f.end(o, "cancelled", at)


_RULES: dict[str, Callable[[Fold, dict[str, Any], datetime], None]] = {
    "received": _received,
    "classified": lambda f, d, at: setattr(
        f.c, "section_id", d.get("handling_section_id") or f.c.section_id),
    "accepted": _accepted,
    "referred": _referred,
    "handoff_accepted": _handoff,
    "transfer_approved": _transfer,
    "one_time_notice_given": _notice,
    "materials_supplied": _materials,
    "extension_granted": lambda f, d, at: f.move(Ob.complete,
                                                 date.fromisoformat(d["new_due_date"])),
    "replied": lambda f, d, at: f.end(Ob.reply, "met", at),
    "completed": _completed,
    "closed": _closed,
    "investigation_started": _investigation,
    "investigation_extended": _extended,
    "accountability_decided": _step(Ob.investigation, Ob.decision_delivery,
                                    lambda p: (p.decision_delivery_working_days, None)),
    "decision_delivered": _step(Ob.decision_delivery, Ob.review_request,
                                lambda p: (None, p.review_request_calendar_days)),
    "review_requested": _step(Ob.review_request, Ob.review_decision,
                              lambda p: (None, p.review_decision_calendar_days)),
    "review_decided": _step(Ob.review_decision, None),
    "accountability_closed": _procedure_closed,
}
_ANNOUNCEMENTS = ("deadline_set", "deadline_met")


def fold_clocks(case_id: str, events: list[CloudEvent], policy: UnitPolicy,
                calendar: Calendar,
                after: Callable[[CloudEvent, CaseClocks], None] | None = None) -> CaseClocks:
    """The case's clocks after ``events`` (its whole stream, in order); ``after(event,
    clocks)``, if given, sees the clocks after each event (services.deadline_watch.record)."""
    f = Fold(case_id, policy, calendar)
    for raw in events:
        event = upcast(raw)
        f.c.version = event.sequence or f.c.version + 1
        f.c.event_ids.add(event.id)
        name = event.type.split(".")[2]
        if name in _ANNOUNCEMENTS:
            f.c.announced[Obligation(event.data["obligation"])] = {"type": name, **event.data}
        rule = _RULES.get(name)
        if rule is not None:
            rule(f, event.data, event.time)
            if after is not None:
                after(event, f.c)
    return f.c


def rule_reads(event_type: str) -> bool:
    """Whether any clock rule reads events of this type (the others change no clock)."""
    parts = event_type.split(".")
    return len(parts) > 2 and parts[2] in _RULES


def unit_of(events: list[CloudEvent]) -> str | None:
    """The unit whose policy and calendar count the case's time (where it was received)."""
    for event in events:
        if event.type.split(".")[2] == "received":
            return str(event.data["unit_id"])
    return None
