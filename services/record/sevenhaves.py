"""The "seven haves" of the ledger (DOMAIN.md section 2): 件件有登记、有部署安排、有责任人、
有处理期限、有督查落实、有信息反馈、有情况汇总. Pure.

    have            label       is there once the case has
    registration    有登记      been received (the inquiry recorded)
    plan            有部署安排  been accepted under a plan, or referred on
    responsible     有责任人    a named person who took it on: accepted, handoff accepted,
                                transfer approved, or answered by the one who holds it
    deadline        有处理期限  a time limit: accepted with one, or a deadline set
    supervision     有督查落实  been watched over: escalated, an extension or transfer decided
                                by a leader, a deadline warned/breached/met, accountability
    feedback        有信息反馈  told the inquirer: a reply, the result delivered, an external
                                referral (where to go), a notification sent to the inquirer
    summary         有情况汇总  been summed up: completed (with a summary) or closed

A have once there stays there; ``missing`` names the absent ones in this order.
"""

from __future__ import annotations

from typing import Any

HAVES = ("registration", "plan", "responsible", "deadline", "supervision", "feedback",
         "summary")
LABELS = {
    "registration": "有登记", "plan": "有部署安排", "responsible": "有责任人",
    "deadline": "有处理期限", "supervision": "有督查落实", "feedback": "有信息反馈",
    "summary": "有情况汇总",
}

_SUPERVISION = {
    "escalated", "extension_granted", "extension_refused", "transfer_approved",
    "transfer_rejected", "deadline_warned", "deadline_breached", "deadline_met",
    "accountability_opened", "preliminary_verified", "proposal_written",
    "investigation_started", "investigation_extended", "accountability_decided",
    "decision_delivered", "review_requested", "review_decided", "accountability_closed",
}
_BY_EVENT: dict[str, tuple[str, ...]] = {
    "received": ("registration",),
    "accepted": ("plan", "responsible", "deadline"),
    "handoff_accepted": ("responsible",),
    "transfer_approved": ("responsible", "supervision"),
    "deadline_set": ("deadline",),
    "extension_granted": ("deadline", "supervision"),
    "replied": ("responsible", "feedback"),
    "result_delivered": ("feedback",),
    "completed": ("summary",),
    "closed": ("summary",),
}


def haves_after(
    haves: dict[str, bool], name: str, data: dict[str, Any]
) -> dict[str, bool]:
    """The haves after an event named ``name`` (e.g. "accepted") with ``data``."""
    got = set(_BY_EVENT.get(name, ()))
    if name in _SUPERVISION:
        got.add("supervision")
    if name == "referred":
        got.add("plan")
        if data["referral"]["kind"] == "external":
            got.add("feedback")  # the inquirer was told exactly where to go
    if name == "notification_sent" and data.get("recipient_kind") == "inquirer":
        got.add("feedback")
    if all(haves.get(k) for k in got):
        return haves
    return {k: haves.get(k, False) or k in got for k in HAVES}


def missing(haves: dict[str, bool]) -> tuple[str, ...]:
    return tuple(k for k in HAVES if not haves.get(k, False))


def describe_missing(haves: dict[str, bool]) -> str:
    gone = missing(haves)
    return "all seven present" if not gone else "missing: " + ", ".join(
        f"{k} ({LABELS[k]})" for k in gone)
