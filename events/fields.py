"""Field types and small value objects the case payloads share.

    PersonalText   an inquirer's personal data (name, phone, address, ID number, email);
                   marked ``x-personal-data: true`` in the JSON Schema, masked in logs;
                   plain (<= 500) or ``Sealed`` (encrypted with the inquirer's data key)
    PersonalMessage  a message to or about an inquirer (<= 4000), marked the same way
    Text           free text said or written in the case (matter, answer, reason), <= 4000
    ShortText      a label (material, form, body, section name), <= 200
    Name, Contact  a person's name, a phone number or other contact, <= 100
    Id             an identifier (staff, unit, section, receipt, record), <= 64
    StaffMember    who is responsible: id, name, duty, contact — what the inquirer is told
    LeaderRef      a leader who approves or is escalated to: id, role, name

Every text has a length limit, so a payload can never grow without bound.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

PERSONAL_MARK = "x-personal-data"

# No control characters but tab and newlines: PostgreSQL's jsonb cannot even store NUL.
PRINTABLE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

# A personal value sealed with its inquirer's data key (events/sealed.py):
# ``enc:v1:<key id>:<base64url(nonce || AES-256-GCM ciphertext || tag)>``. The store keeps
# this, never the plain text, once encryption is on; 16400 covers a 4000-character message.
SEALED_PATTERN = r"^enc:v1:[A-Za-z0-9._\-]{1,64}:[A-Za-z0-9_\-]{39,}$"
_SEALED = re.compile(SEALED_PATTERN)
_PRINTABLE = re.compile(PRINTABLE)
_SEALED_SCHEMA = {"type": "string", "minLength": 47, "maxLength": 16400,
                  "pattern": SEALED_PATTERN}


def _personal(max_length: int) -> Any:
    """Plain text of at most ``max_length`` printable characters, or a sealed token: one
    check (a union would report each branch's error for one bad value)."""

    def check(value: str) -> str:
        if value.startswith("enc:v1:") and len(value) <= 16400 and _SEALED.match(value):
            return value
        if len(value) > max_length:
            raise PydanticCustomError(
                "string_too_long", "String should have at most {max_length} characters",
                {"max_length": max_length})
        if not _PRINTABLE.match(value):
            raise PydanticCustomError(
                "string_pattern_mismatch", "String should match pattern '{pattern}'",
                {"pattern": PRINTABLE})
        return value

    plain = {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": PRINTABLE}
    return Annotated[
        str, Field(min_length=1), AfterValidator(check),
        WithJsonSchema({"anyOf": [plain, _SEALED_SCHEMA], PERSONAL_MARK: True}),
    ]


PersonalText = _personal(500)
# A message that may quote an inquirer's personal data (e.g. what they were told, by name)
PersonalMessage = _personal(4000)
Text = Annotated[str, Field(min_length=1, max_length=4000, pattern=PRINTABLE)]
ShortText = Annotated[str, Field(min_length=1, max_length=200, pattern=PRINTABLE)]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=PRINTABLE)]
Contact = Annotated[str, Field(min_length=1, max_length=100, pattern=PRINTABLE)]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")]


class Value(BaseModel):
    """Base of the value objects nested in payloads: immutable, no unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Channel(StrEnum):
    visit = "visit"
    phone = "phone"
    letter = "letter"
    online = "online"
    hotline = "hotline"
    window = "window"


class StaffMember(Value):
    """A responsible staff member, as the inquirer is told: name, duty, contact (告知)."""

    id: Id
    name: Name
    duty: ShortText
    contact: Contact


class LeaderRole(StrEnum):
    section_head = "section_head"  # 科室负责人: main leadership responsibility
    supervising_leader = "supervising_leader"  # 分管领导: important leadership responsibility
    principal_leader = "principal_leader"  # 主要领导: complaints are reported at once


class LeaderRef(Value):
    """A leader who approves a transfer or extension, or to whom a case is escalated."""

    id: Id
    role: LeaderRole
    name: Name | None = None
