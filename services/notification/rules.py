"""Which messages a case event causes: recipients by kind, channel, template (pure rules).

    plan(event_type, data, case, options) -> [Intent(recipient, channel, template, ...)]

      received              inquirer  receipt: the first responder's name, duty, contact
      one_time_notice_given inquirer  every missing material, requirement and form
      referred              inquirer  where to go (external: address, phone, person;
                                      internal: unit, section, named handler,
                                      address, window, phone, contact person)
                            staff     the handler: a handoff to accept (internal only)
      accepted              staff     the handler: a new assignment
      materials_supplied    staff     by the inquirer online: the handler, to check them
      extension_granted     inquirer  the new due date and its reason
      transfer_approved     inquirer  who the new responsible person is
      completed             inquirer  the result
      result_delivered      inquirer  an invitation to rate
      deadline_warned       staff     the person responsible: the due time is near
      deadline_breached     staff     the person responsible: the due time passed
      escalated             leader    the case is before them
      extension_requested,
      transfer_requested    leader    approval needed (asked_of, else the unit's principal
                                      leader as ``options.principal_leader`` found him)

    channels   inquirer: e-mail if known, else SMS to the phone, else nothing
               staff:    in-app, and e-mail when staff e-mail is configured
               leader:   in-app and SMS (to the directory contact), and the webhook if set

Addresses of staff and leaders are resolved at send time from the directory (an unknown
one fails that delivery, which is retried and then dead-lettered), so this module needs no
I/O at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from events.notification import NotifyChannel, RecipientKind

DEFAULT_LANGUAGE = "zh-CN"
STAFF_LANGUAGE = "zh-CN"
EVENT_PREFIX = "shouwen.case."


@dataclass(frozen=True)
class CaseFacts:
    """What the case's received event says about whom to tell, and in which language."""

    case_id: str
    receipt_number: str
    unit_id: str
    inquirer_name: str
    inquirer_email: str | None
    inquirer_phone: str | None
    language: str
    first_responder: dict[str, str]

    @classmethod
    def from_received(cls, case_id: str, d: dict[str, Any]) -> CaseFacts:
        return cls(case_id, d["receipt_number"], d["unit_id"], d["inquirer_name"],
                   d.get("inquirer_email"), d.get("inquirer_phone"),
                   d.get("inquirer_language") or DEFAULT_LANGUAGE,
                   {"id": d["first_responder_id"], "name": d["first_responder_name"],
                    "duty": d["first_responder_duty"], "contact": d["first_responder_contact"]})

    def context(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "receipt_number": self.receipt_number,
                "unit_id": self.unit_id, "inquirer_name": self.inquirer_name,
                "first_responder": self.first_responder}


# the envelope source of events migrated from a legacy 台账 (services/importer): no messages
IMPORT_SOURCE = "urn:shouwen:import"


@dataclass(frozen=True)
class Options:
    staff_email: bool = False
    webhook: bool = False
    principal_leader: str | None = None  # the unit's, for approvals not asked of anyone


@dataclass(frozen=True)
class Intent:
    recipient_kind: RecipientKind
    recipient_id: str | None  # None: the inquirer
    channel: NotifyChannel
    template: str
    language: str
    address: str | None  # known now for the inquirer; staff/leaders: resolved when sending
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def recipient(self) -> str:
        """The recipient part of the delivery key: ``inquirer``, ``staff:ID``, ``leader:ID``."""
        if self.recipient_id is None:
            return self.recipient_kind.value
        return f"{self.recipient_kind.value}:{self.recipient_id}"


def _to_inquirer(template: str, case: CaseFacts, ctx: dict[str, Any]) -> list[Intent]:
    if case.inquirer_email:
        channel, address = NotifyChannel.email, case.inquirer_email
    elif case.inquirer_phone:
        channel, address = NotifyChannel.sms, case.inquirer_phone
    else:
        return []  # no contact recorded: told in person or by letter
    return [Intent(RecipientKind.inquirer, None, channel, f"inquirer/{template}",
                   case.language, address, ctx)]


def _to_staff(template: str, staff_id: str | None, ctx: dict[str, Any], o: Options) -> list[Intent]:
    if staff_id is None:
        return []
    channels = [NotifyChannel.in_app] + ([NotifyChannel.email] if o.staff_email else [])
    return [Intent(RecipientKind.staff, staff_id, c, f"staff/{template}", STAFF_LANGUAGE, None, ctx)
            for c in channels]


def _to_leader(template: str, leader_id: str | None, ctx: dict[str, Any],
               o: Options) -> list[Intent]:
    if leader_id is None:
        return []
    channels = [NotifyChannel.in_app, NotifyChannel.sms]
    channels += [NotifyChannel.webhook] if o.webhook else []
    return [Intent(RecipientKind.leader, leader_id, c, f"leader/{template}", STAFF_LANGUAGE,
                   None, ctx) for c in channels]


Rule = Callable[[dict[str, Any], CaseFacts, dict[str, Any], Options], list[Intent]]


def _referred(d: dict[str, Any], case: CaseFacts, ctx: dict[str, Any], o: Options) -> list[Intent]:
    intents = _to_inquirer("referral", case, ctx)
    if d["referral"]["kind"] == "internal":
        intents += _to_staff("handoff", d["referral"]["handler"]["id"], ctx, o)
    return intents


def _approval(d: dict[str, Any], case: CaseFacts, ctx: dict[str, Any], o: Options) -> list[Intent]:
    asked = (d.get("asked_of") or {}).get("id") or o.principal_leader
    return _to_leader("approval_needed", asked, ctx, o)


RULES: dict[str, Rule] = {
    "received": lambda d, c, x, o: _to_inquirer("receipt", c, x),
    "one_time_notice_given": lambda d, c, x, o: _to_inquirer("one_time_notice", c, x),
    "referred": _referred,
    "accepted": lambda d, c, x, o: _to_staff("assignment", d["handler"]["id"], x, o),
    # supplied by the inquirer online: the handler checks them (None when a clerk recorded it)
    "materials_supplied": lambda d, c, x, o: _to_staff("materials_supplied",
                                                       d.get("check_by_id"), x, o),
    "extension_granted": lambda d, c, x, o: _to_inquirer("extension", c, x),
    "transfer_approved": lambda d, c, x, o: _to_inquirer("new_responsible", c, x),
    "completed": lambda d, c, x, o: _to_inquirer("result", c, x),
    "result_delivered": lambda d, c, x, o: _to_inquirer("rating_invitation", c, x),
    "deadline_warned": lambda d, c, x, o: _to_staff("deadline_warning", d.get("responsible_id"),
                                                    x, o),
    "deadline_breached": lambda d, c, x, o: _to_staff("deadline_breached",
                                                      d.get("responsible_id"), x, o),
    "escalated": lambda d, c, x, o: _to_leader("escalation", d["leader"]["id"], x, o),
    "extension_requested": _approval,
    "transfer_requested": _approval,
}


def fact_name(event_type: str) -> str | None:
    """``shouwen.case.received.v1`` -> ``received`` (None for other families)."""
    if not event_type.startswith(EVENT_PREFIX):
        return None
    return event_type[len(EVENT_PREFIX):].rsplit(".", 1)[0]


def triggers(event_type: str) -> bool:
    return fact_name(event_type) in RULES


def needs_principal_leader(event_type: str, data: dict[str, Any]) -> bool:
    return fact_name(event_type) in ("extension_requested", "transfer_requested") and \
        not (data.get("asked_of") or {}).get("id")


def plan(event_type: str, data: dict[str, Any], case: CaseFacts,
         options: Options | None = None) -> list[Intent]:
    """The messages ``event_type`` causes; the template context is the case and the event."""
    name = fact_name(event_type)
    rule = RULES.get(name or "")
    if rule is None:
        return []
    ctx = {"case": case.context(), "event": data}
    return rule(data, case, ctx, options or Options())
