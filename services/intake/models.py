"""Request bodies of the staff commands: what a caller may say, and nothing more.

Every body forbids unknown fields, so status, first responder, unit, receipt and the like
can never be set through a request (mass assignment): the server derives them from the
caller, the directory and the case. Text is stripped and length-bounded; a phone number is
a mainland mobile (13812345678) or a landline with its area code (0935-8123456), optionally
after +86. Bodies name the fields whose text is said to the inquirer (``inquirer_texts``),
which are checked for brush-offs. Responses are in ``queries``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from events.case import Form, MatterTypeCode, MissingMaterial
from events.case_outcome import ClosingReason, DeliveryMethod, Outcome
from events.case_referral import EscalationReason
from events.fields import Channel, Id, Name, ShortText, Text
from services.common.bodies import Action as Action  # the bodies' bases, re-exported
from services.common.bodies import Strict as Strict

_PHONE = re.compile(r"(?:\+86[ -]?)?(?:1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})")
_ID_NUMBER = re.compile(r"[0-9]{17}[0-9Xx]|[0-9]{15}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")


def _phone(value: str) -> str:
    if not _PHONE.fullmatch(value):
        raise ValueError("not a phone number: give a mainland mobile (13812345678) or a "
                         "landline with its area code (0935-8123456), optionally after +86")
    return value


def _id_number(value: str) -> str:
    if not _ID_NUMBER.fullmatch(value):
        raise ValueError("not a resident ID number (18 characters: 17 digits and a digit or X)")
    return value.upper()


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError("not an email address")
    return value


# The formats are also written into the OpenAPI document (a client, or schemathesis, then
# knows them); the validators enforce them with a message that says what is expected.
Phone = Annotated[str, Field(max_length=20, json_schema_extra={"pattern": f"^{_PHONE.pattern}$"}),
                  AfterValidator(_phone)]
IdNumber = Annotated[str, Field(max_length=18,
                                json_schema_extra={"pattern": f"^{_ID_NUMBER.pattern}$"}),
                     AfterValidator(_id_number)]
Email = Annotated[str, Field(max_length=254, json_schema_extra={"pattern": f"^{_EMAIL.pattern}$"}),
                  AfterValidator(_email)]
Address = Annotated[str, Field(min_length=1, max_length=200)]


def when(field: str, values: Any, *, then: dict[str, Any] | None = None,
         otherwise: dict[str, Any] | None = None, absent_is: Any = None) -> dict[str, Any]:
    """A cross-field rule as JSON Schema (if/then/else), so the OpenAPI document says what
    the validator enforces: ``values`` a value or a list of them."""
    match = {"enum": values} if isinstance(values, list) else {"const": values}
    rule: dict[str, Any] = {"if": {"properties": {field: match}, "required": [field]}}
    if absent_is is not None and absent_is == values:
        rule["if"] = {"anyOf": [rule["if"], {"not": {"required": [field]}}]}
    if then is not None:
        rule["then"] = then
    if otherwise is not None:
        rule["else"] = otherwise
    return rule


def present(*fields: str) -> dict[str, Any]:
    """Each of ``fields`` given, and not null."""
    return {"required": list(fields),
            "properties": {f: {"not": {"type": "null"}} for f in fields}}


def rules(*fragments: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"allOf": list(fragments)})


# channel -> the ledger fields it needs beside name and matter (DOMAIN.md section 2)
LEDGER: dict[Channel, tuple[str, ...]] = {
    Channel.phone: ("inquirer_phone",),
    Channel.hotline: ("inquirer_phone",),
    Channel.visit: ("inquirer_phone",),
    Channel.window: ("inquirer_phone",),
    Channel.letter: ("inquirer_address",),
}


class RegisterInquiry(Strict):
    model_config = rules(
        *(when("channel", [c.value for c, fs in LEDGER.items() if fs == (f,)], then=present(f))
          for f in sorted({f for fs in LEDGER.values() for f in fs})),
        when("channel", Channel.online.value, then={"anyOf": [present("inquirer_phone"),
                                                              present("inquirer_email")]}))

    channel: Channel
    matter: Text
    inquirer_name: Name
    inquirer_phone: Phone | None = None
    inquirer_address: Address | None = None
    inquirer_work_unit: ShortText | None = None
    inquirer_id_number: IdNumber | None = None
    inquirer_email: Email | None = None
    inquirer_language: Literal["zh-CN", "en"] | None = None  # of messages to the inquirer
    # a letter or a forwarded item: when it was received (postmark, hand-over); time limits
    # count from it. Timezone required; in the past, within the unit's bound (settings).
    received_at: datetime | None = None
    forwarded_from: ShortText | None = None  # who handed it over (another body, 12345 ...)

    @model_validator(mode="after")
    def _received_at_of_a_letter_or_forwarded_item(self) -> RegisterInquiry:
        if self.received_at is None:
            return self
        if self.received_at.tzinfo is None or self.received_at.utcoffset() is None:
            raise ValueError("received_at: give the time zone (e.g. 2026-09-29T10:00:00+08:00)")
        if self.channel is not Channel.letter and self.forwarded_from is None:
            raise ValueError("received_at: only a letter or a forwarded item (forwarded_from) "
                             "carries a received date; anything else is received now")
        return self

    @model_validator(mode="after")
    def _ledger_fields(self) -> RegisterInquiry:
        missing = [f for f in LEDGER.get(self.channel, ()) if getattr(self, f) is None]
        if self.channel is Channel.online and not (self.inquirer_phone or self.inquirer_email):
            missing.append("inquirer_phone or inquirer_email")
        if missing:
            raise ValueError(f"a {self.channel.value} inquiry must record "
                             + ", ".join(missing) + " (the ledger, DOMAIN.md section 2)")
        return self


class Accept(Action):
    model_config = rules(when("on_the_spot", False, absent_is=False,
                              then=present("handling_plan")))

    matter_type_code: MatterTypeCode | None = None
    working_days: Annotated[int, Field(ge=0, le=366)] | None = None
    on_the_spot: bool = False
    handling_plan: Text | None = None

    @model_validator(mode="after")
    def _plan_unless_on_the_spot(self) -> Accept:
        if not self.on_the_spot and self.handling_plan is None:
            raise ValueError("handling_plan is required when the matter is not handled on "
                             "the spot: the inquirer must be told how it will be handled")
        return self

    def inquirer_texts(self) -> dict[str, str | None]:
        return {"handling_plan": self.handling_plan}


class OneTimeNotice(Action):
    missing_materials: Annotated[list[MissingMaterial], Field(min_length=1, max_length=100)]
    requirements: Text | None = None
    forms: Annotated[list[Form], Field(max_length=50)] = []
    notified_via: Channel | None = None
    request_changed: bool = False

    @model_validator(mode="after")
    def _each_material_once(self) -> OneTimeNotice:
        names = [m.name for m in self.missing_materials]
        if len(set(names)) != len(names):
            raise ValueError("missing_materials names a material twice")
        return self

    def inquirer_texts(self) -> dict[str, str | None]:
        texts = {"requirements": self.requirements}
        for i, m in enumerate(self.missing_materials):
            texts[f"missing_materials[{i}].requirements"] = m.requirements
        return texts


class MaterialsSupplied(Action):
    model_config = rules(when("complete", True, then={"properties": {"outstanding": {
        "maxItems": 0}}}))

    materials: Annotated[list[ShortText], Field(min_length=1, max_length=100)]
    outstanding: Annotated[list[ShortText], Field(max_length=100)] = []
    complete: bool

    @model_validator(mode="after")
    def _complete_means_nothing_outstanding(self) -> MaterialsSupplied:
        if self.complete and self.outstanding:
            raise ValueError("outstanding must be empty when complete is true")
        return self


class ReferInternal(Action):
    kind: Literal["internal"]
    section_id: Id
    handler_id: Id
    handler_present: bool = True
    reason: Text | None = None

    def inquirer_texts(self) -> dict[str, str | None]:
        return {"reason": self.reason}


class ReferExternal(Action):
    """To a body in the catalogue (``body_id``), or one named in full."""

    kind: Literal["external"]
    body_id: Id | None = None
    body_name: ShortText | None = None
    address: ShortText | None = None
    contact_phone: Phone | None = None
    contact_person: Name | None = None
    case_forwarded: bool = False
    reason: Text | None = None

    @model_validator(mode="after")
    def _catalogue_or_full_details(self) -> ReferExternal:
        details = {"body_name": self.body_name, "address": self.address,
                   "contact_phone": self.contact_phone, "contact_person": self.contact_person}
        given = [k for k, v in details.items() if v is not None]
        if self.body_id is not None and given:
            raise ValueError("give body_id (a body in the catalogue) or the body's details, "
                             "not both: " + ", ".join(given))
        missing = [k for k, v in details.items() if v is None]
        if self.body_id is None and missing:
            raise ValueError("an external referral must tell the inquirer exactly where to "
                             "go: missing " + ", ".join(missing) + " (or give body_id)")
        return self

    def inquirer_texts(self) -> dict[str, str | None]:
        return {"reason": self.reason}


Refer = Annotated[ReferInternal | ReferExternal, Field(discriminator="kind")]
LeaderLevel = Literal["section_chief", "supervising_leader", "principal_leader"]


class ChooseMatter(Action):
    """The matter the case is about: one of routing's suggestions, or a correction."""

    matter_type_code: MatterTypeCode
    reason: Text | None = None  # why (required when correcting a matter the case had)


class Escalate(Action):
    model_config = rules(when("reason", EscalationReason.other.value, then=present("details")))

    to: LeaderLevel
    reason: EscalationReason
    details: Text | None = None

    @model_validator(mode="after")
    def _other_needs_details(self) -> Escalate:
        if self.reason is EscalationReason.other and self.details is None:
            raise ValueError("details is required when reason is 'other'")
        return self


class TransferRequest(Action):
    reason: Text
    proposed_responsible_id: Id | None = None


class TransferDecision(Action):
    model_config = rules(when("decision", "approve", then=present("new_responsible_id")),
                         when("decision", "reject", then=present("reason")))

    decision: Literal["approve", "reject"]
    new_responsible_id: Id | None = None
    reason: Text | None = None

    @model_validator(mode="after")
    def _what_each_decision_needs(self) -> TransferDecision:
        if self.decision == "approve" and self.new_responsible_id is None:
            raise ValueError("an approval must name new_responsible_id: the inquirer is "
                             "told who is responsible now")
        if self.decision == "reject" and self.reason is None:
            raise ValueError("a rejection needs a reason")
        return self


class ExtensionRequest(Action):
    reason: Text
    proposed_due_date: date


class ExtensionDecision(Action):
    decision: Literal["grant", "refuse"]
    new_due_date: date | None = None  # default: the date asked for
    reason: Text  # what the inquirer is told

    def inquirer_texts(self) -> dict[str, str | None]:
        return {"reason": self.reason}


class Reply(Action):
    answer: Text
    channel: Channel | None = None  # default: the channel the inquiry came by
    basis: Text | None = None

    def inquirer_texts(self) -> dict[str, str | None]:
        return {"answer": self.answer, "basis": self.basis}


class Complete(Action):
    outcome: Outcome
    summary: Text

    def inquirer_texts(self) -> dict[str, str | None]:
        return {"summary": self.summary}


class Pickup(Strict):
    """The pick-up record (取件登记表); the record number and time are set by the server."""

    collector_name: Name
    collector_id_number: IdNumber | None = None
    by_proxy: bool = False


class Deliver(Action):
    model_config = rules(when("method", DeliveryMethod.pick_up.value, then=present("pickup"),
                              otherwise={"not": present("pickup")}))

    method: DeliveryMethod
    recipient_name: Name
    recipient_contact: Address | None = None
    pickup: Pickup | None = None

    @model_validator(mode="after")
    def _pickup_iff_picked_up(self) -> Deliver:
        picked_up = self.method is DeliveryMethod.pick_up
        if picked_up and self.pickup is None:
            raise ValueError("pickup (the pick-up record) is required when method is 'pick_up'")
        if not picked_up and self.pickup is not None:
            raise ValueError("pickup is only for method 'pick_up'")
        return self


class AcceptHandoff(Action):
    pass


class Close(Action):
    reason: ClosingReason
    note: Text | None = None
