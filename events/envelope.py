"""The CloudEvents 1.0 envelope every Shouwen event travels in.

Extensions (lower-case alphanumerics, as CloudEvents requires):
  actor          who did it: ``staff:<id>``, ``inquirer:<receipt>``, ``service:<name>``
  causationid    the id of the event this one reacted to (absent for commands from people)
  correlationid  the id of the first event of the conversation (the case's received event)
  sequence       the event's version in its case stream (1, 2, ...), set by the store
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

import uuid6
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from events.registry import EventPayload

ACTOR_RE = re.compile(r"^(staff|inquirer|service|system):[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
SUBJECT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")


def _check_actor(value: str) -> str:
    if not ACTOR_RE.match(value):
        raise ValueError(
            "actor must be 'staff:<id>', 'inquirer:<id>', 'service:<name>' or 'system:<name>'"
        )
    return value


def _check_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("time must carry a timezone")
    return value.astimezone(UTC)


Actor = Annotated[str, AfterValidator(_check_actor)]
Subject = Annotated[str, Field(pattern=SUBJECT_RE.pattern)]
UtcTime = Annotated[datetime, AfterValidator(_check_utc)]


class CloudEvent(BaseModel):
    """One event. Immutable; the store assigns ``sequence`` on append."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: UUID
    source: str = Field(min_length=1)
    type: str = Field(pattern=r"^shouwen\.[a-z_.]+\.v[0-9]+$")
    subject: Subject
    time: UtcTime
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    actor: Actor
    causationid: UUID | None = None
    correlationid: UUID | None = None
    sequence: int | None = Field(default=None, ge=1)
    data: dict[str, Any]

    def with_sequence(self, sequence: int) -> CloudEvent:
        return self.model_copy(update={"sequence": sequence})


def schema_uri(event_type: str) -> str:
    return f"urn:shouwen:schema:{event_type}"


def new_event(
    payload: EventPayload,
    *,
    subject: str,
    actor: str,
    source: str = "urn:shouwen:city",
    causationid: UUID | None = None,
    correlationid: UUID | None = None,
    time: datetime | None = None,
    id: UUID | None = None,
) -> CloudEvent:
    """Wrap a payload in an envelope with a fresh time-ordered (v7) id."""
    event_type = type(payload).event_type
    return CloudEvent(
        id=id or uuid6.uuid7(),
        source=source,
        type=event_type,
        subject=subject,
        time=time or datetime.now(UTC),
        dataschema=schema_uri(event_type),
        actor=actor,
        causationid=causationid,
        correlationid=correlationid,
        data=payload.model_dump(mode="json"),
    )
