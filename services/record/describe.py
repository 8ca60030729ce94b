"""What an event says happened, in plain words: ``describe(type, data) -> (did, said)``. Pure.

    did    what the actor did, e.g. "accepted the case as handler 王芳 (社保卡经办),
           due 2026-12-03 (15 working days)"
    said   what they said or wrote, verbatim (the answer, the reason, the summary), or None

Personal data is described from whatever ``data`` holds: the caller passes masked data
(events.personal.mask_event_data) to readers who may not see it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Data = dict[str, Any]
Said = tuple[str, str | None]


def _received(d: Data) -> Said:
    who = d.get("inquirer_name", "?")
    return (f"received the inquiry of {who} by {d['channel']} (receipt {d['receipt_number']})"
            f" as first responder {d['first_responder_name']} ({d['first_responder_duty']},"
            f" {d['first_responder_contact']})", d.get("matter"))


def _classified(d: Data) -> Said:
    where = d.get("handling_section_id") or d.get("handling_unit_id") or "no unit"
    name = d.get("matter_type_name") or d["matter_type_code"]
    return (f"classified the matter as {name} ({d['jurisdiction']}, handled by {where};"
            f" by {d['method']}, confidence {d['confidence']:.2f})", None)


def _accepted(d: Data) -> Said:
    h, t = d["handler"], d["time_limit"]
    spot = " on the spot" if d.get("on_the_spot") else ""
    code = d.get("matter_type_code")
    matter = (f" for the matter {d.get('matter_type_name') or code} ({code})"
              if code else "")
    return (f"accepted the case{spot}{matter} as handler {h['name']} ({h['duty']},"
            f" {h['contact']}), due {t['due_date']} ({t['working_days']} working days)",
            d.get("handling_plan"))


def _notice(d: Data) -> Said:
    names = ", ".join(m["name"] for m in d["missing_materials"])
    return f"gave a one-time notice of every missing material: {names}", d.get("requirements")


def _referred(d: Data) -> Said:
    r = d["referral"]
    if r["kind"] == "internal":
        to = f"section {r['section_name']}, handler {r['handler']['name']}"
        if r.get("unit_name"):
            to = f"{r['unit_name']} ({r.get('address')}, {r.get('contact_phone')}), {to}"
        return f"referred the case to {to}", d.get("reason")
    return (f"referred the inquirer to {r['body_name']} ({r['address']}, {r['contact_phone']},"
            f" contact {r['contact_person']})", d.get("reason"))


def _leader(ref: Data) -> str:
    return f"{ref.get('name') or ref['id']} ({ref['role']})"


def _staff(s: Data) -> str:
    return f"{s['name']} ({s['duty']}, {s['contact']})"


def _deadline(d: Data) -> Said:
    state = d.get("state", "running")
    return (f"set the {d['obligation']} deadline: due {d['due_at']} ({state}"
            + (", provisional" if d.get("provisional") else "") + ")", d.get("basis"))


def _met(d: Data) -> Said:
    how = "cancelled" if d.get("cancelled") else ("on time" if d["on_time"] else "late")
    return f"recorded the {d['obligation']} obligation met ({how}; due {d['due_at']})", None


def _step(d: Data) -> str:
    return f"accountability procedure {d['procedure_id']}"


_SIMPLE: dict[str, Callable[[Data], Said]] = {
    "received": _received,
    "classified": _classified,
    "accepted": _accepted,
    "one_time_notice_given": _notice,
    "materials_supplied": lambda d: (
        "recorded materials supplied: " + ", ".join(d["materials"])
        + ("" if d["complete"] else "; outstanding: " + ", ".join(d["outstanding"])), None),
    "extension_requested": lambda d: (
        f"asked for an extension to {d['proposed_due_date']}", d["reason"]),
    "extension_granted": lambda d: (
        f"granted an extension to {d['new_due_date']} as {_leader(d['approver'])}", d["reason"]),
    "extension_refused": lambda d: (
        f"refused the extension as {_leader(d['approver'])}", d["reason"]),
    "referred": _referred,
    "handoff_accepted": lambda d: (f"took the handoff as {_staff(d['handler'])}", None),
    "matter_suggested": lambda d: (
        "suggested the matters " + ", ".join(
            f"{s['matter_type_code']} ({s['score']:.0%})" for s in d["suggestions"]), None),
    "matter_chosen": lambda d: (
        "chose the matter " + (f"{d['previous_matter_type_code']} -> "
                               if d.get("previous_matter_type_code") else "")
        + d["matter_type_code"] + (f" (suggestion {d['suggestion_rank']})"
                                   if d.get("suggested") else ""), d.get("reason")),
    "escalated": lambda d: (
        f"escalated the case to {_leader(d['leader'])} ({d['reason']})", d.get("details")),
    "transfer_requested": lambda d: ("asked to transfer responsibility for the case",
                                     d["reason"]),
    "transfer_approved": lambda d: (
        f"approved the transfer as {_leader(d['approver'])}: {d['previous_responsible_id']}"
        f" -> {_staff(d['new_responsible'])}", None),
    "transfer_rejected": lambda d: (
        f"rejected the transfer as {_leader(d['approver'])}", d["reason"]),
    "replied": lambda d: (f"replied to the inquirer by {d['channel']}", d["answer"]),
    "completed": lambda d: (f"completed the handling ({d['outcome']})", d["summary"]),
    "result_delivered": lambda d: (
        f"delivered the result by {d['method']} to {d['recipient_name']}", None),
    "closed": lambda d: (f"closed the case ({d['reason']})", d.get("note")),
    "rated": lambda d: (f"rated the service: {d['level']}", d.get("comment")),
    "complaint_filed": lambda d: (
        "filed a complaint against "
        + (d.get("against_staff_name") or d.get("against_staff_id") or d.get("against_unit_id")
           or "?"), d["complaint"]),
    "inquirer_erased": lambda d: (
        f"erased the inquirer's personal data ({d['ground']}; key {d['key_id']} destroyed)",
        d.get("reason")),
    "deadline_set": _deadline,
    "deadline_warned": lambda d: (
        f"warned that the {d['obligation']} deadline is near (due {d['due_at']},"
        f" {d['working_days_left']} working day(s) left)", None),
    "deadline_breached": lambda d: (
        f"recorded the {d['obligation']} deadline breached (due {d['due_at']})", None),
    "deadline_met": _met,
    "notification_sent": lambda d: (
        f"notified the {d['recipient_kind']} by {d['channel']} ({d['template']})",
        d.get("message")),
    "notification_failed": lambda d: (
        f"failed to notify the {d['recipient_kind']} by {d['channel']}", d.get("reason")),
    "accountability_opened": lambda d: (f"opened {_step(d)}", d.get("summary")),
    "preliminary_verified": lambda d: (
        f"verified {_step(d)} preliminarily (proceed: {d['proceed']})", d.get("findings")),
    "proposal_written": lambda d: (f"wrote the proposal of {_step(d)}", d.get("proposal")),
    "investigation_started": lambda d: (f"started the investigation of {_step(d)}", None),
    "investigation_extended": lambda d: (f"extended the investigation of {_step(d)}",
                                         d.get("reason")),
    "accountability_decided": lambda d: (
        f"decided {_step(d)} (upheld: {d['upheld']})", d.get("reasoning")),
    "decision_delivered": lambda d: (f"delivered the decision of {_step(d)}", None),
    "review_requested": lambda d: (f"requested a review of {_step(d)}", d.get("grounds")),
    "review_decided": lambda d: (f"decided the review of {_step(d)} ({d['outcome']})",
                                 d.get("reason")),
    "accountability_closed": lambda d: (f"closed {_step(d)} ({d['ground']})", d.get("note")),
}


def describe(event_type: str, data: Data) -> Said:
    name = event_type.split(".")[2] if event_type.count(".") >= 3 else event_type
    fn = _SIMPLE.get(name)
    if fn is None:
        return f"recorded {event_type}", None
    try:
        return fn(data)
    except (KeyError, TypeError, ValueError):  # a shape this reader does not know
        return f"recorded {event_type}", None
