"""Payloads of the case lifecycle (DOMAIN.md sections 1-3).

Fields holding an inquirer's personal data are typed ``PersonalText`` so that the
exported JSON Schema marks them (``x-personal-data: true``) and logs can mask them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from events.registry import EventPayload, register

PersonalText = Annotated[
    str, Field(min_length=1, max_length=500, json_schema_extra={"x-personal-data": True})
]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")]


class Channel(StrEnum):
    visit = "visit"
    phone = "phone"
    letter = "letter"
    online = "online"
    hotline = "hotline"
    window = "window"


@register
class CaseReceived(EventPayload):
    """An inquiry reached a staff member, who is now its first responder (首问责任人)."""

    event_type = "shouwen.case.received.v1"

    channel: Channel
    receipt_number: Id
    unit_id: Id
    matter: Text
    inquirer_name: PersonalText
    inquirer_phone: PersonalText | None = None
    inquirer_address: PersonalText | None = None
    inquirer_work_unit: PersonalText | None = None
    first_responder_id: Id
    first_responder_name: Annotated[str, Field(min_length=1, max_length=100)]
    first_responder_duty: Annotated[str, Field(min_length=1, max_length=200)]
    first_responder_contact: Annotated[str, Field(min_length=1, max_length=100)]
