"""The CloudEvents 1.0 envelope every Shouwen event travels in.

Extensions (lower-case alphanumerics, as CloudEvents requires):
  actor          who did it: ``staff:<id>``, ``inquirer:<receipt>``, ``service:<name>``
  causationid    the id of the event this one reacted to (absent for commands from people)
  correlationid  the id of the first event of the conversation (the case's received event)
  sequence       the event's version in its case stream (1, 2, ...), set by the store
  traceparent    W3C trace context (the CloudEvents distributed-tracing extension): set on
  tracestate     the way through the bus (relay -> consumers), never hashed nor stored in
                 the event itself (services/common/tracing.py)
"""

from __future__ import annotations

import builtins
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar
from uuid import UUID

import uuid6
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from events.registry import EventPayload

ACTOR_RE = re.compile(r"^(staff|inquirer|service|system):[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
SUBJECT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")
_TYPE_RE = re.compile(r"^shouwen\.[a-z_.]+\.v[0-9]+$")
_TRACING = ("traceparent", "tracestate")
TRACEPARENT_RE = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


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
    type: str = Field(pattern=_TYPE_RE.pattern)
    subject: Subject
    time: UtcTime
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    actor: Actor
    causationid: UUID | None = None
    correlationid: UUID | None = None
    sequence: int | None = Field(default=None, ge=1)
    # the distributed-tracing extension: transport metadata, not part of the fact (not in
    # events/canonical.py's hash)
    traceparent: str | None = Field(default=None, pattern=TRACEPARENT_RE.pattern)
    tracestate: str | None = Field(default=None, max_length=512)
    data: dict[str, Any]

    def with_sequence(self, sequence: int) -> CloudEvent:
        """A copy stamped with its stream version (``model_copy(update=...)``, which the
        store calls for every event, without its generic work)."""
        return _built(
            {**self.__dict__, "sequence": sequence}, self.__pydantic_fields_set__ | _SEQUENCE,
            self.__pydantic_private__,
        )

    def with_sequence_and_data(self, sequence: int, data: dict[str, Any]) -> CloudEvent:
        """``with_sequence(sequence)`` of ``with_data(data)``, in one copy (the store stamps
        events whose personal fields it has just sealed); ``data`` the event's own: just
        ``with_sequence``."""
        if data is self.data:
            return self.with_sequence(sequence)
        return _built({**self.__dict__, "sequence": sequence, "data": data},
                      self.__pydantic_fields_set__ | _SEQUENCE, None)

    def with_data(self, data: dict[str, Any]) -> CloudEvent:
        """A copy with other data (its personal fields sealed or opened), as cheaply as
        ``with_sequence``; it carries no note that the data was validated."""
        return _built({**self.__dict__, "data": data}, self.__pydantic_fields_set__, None)

    def __eq__(self, other: Any) -> bool:
        """Equal when every field is: pydantic's own test for a model without private
        attributes or extras, which this is, but blind to ``payload_checked``'s note, and to
        the trace context (how it travelled, not what happened)."""
        if not isinstance(other, BaseModel):
            return NotImplemented
        if type(other) is not CloudEvent:
            return False
        mine, theirs = self.__dict__, other.__dict__
        if mine.get("traceparent") is None and theirs.get("traceparent") is None:
            return mine == theirs
        return {k: v for k, v in mine.items() if k not in _TRACING} == \
            {k: v for k, v in theirs.items() if k not in _TRACING}

    # Never hashable: its data is a dict (pydantic's frozen-model hash raised on it as well).
    __hash__ = None  # type: ignore[assignment]

    def payload_checked(self, model: builtins.type[BaseModel]) -> bool:
        """Whether ``data`` is, as it is, the dump of a ``model`` instance that was validated
        (``new_event`` notes that): then validating it again cannot fail, and the store
        skips doing so. Data replaced since (``model_copy(update=...)``) is another object
        and does not carry the note; data changed in place would, which is why event data
        is never changed in place (an event is immutable, its data with it)."""
        note = self.__pydantic_private__
        checked = note.get(_CHECKED) if note is not None else None
        return checked is not None and checked[0] is model and checked[1] is self.data


_SEQUENCE = frozenset({"sequence"})
_NEW_EVENT_FIELDS = frozenset({"id", "source", "type", "subject", "time", "dataschema", "actor",
                               "causationid", "correlationid", "data"})


_CHECKED = "checked"  # new_event's note: (the payload's model, the very dict dumped from it)


def _built(fields: dict[str, Any], fields_set: set[str] | frozenset[str],
           note: dict[str, Any] | None = None) -> CloudEvent:
    """A CloudEvent of values known to be valid, as pydantic's own copy makes one."""
    event = CloudEvent.__new__(CloudEvent)
    object.__setattr__(event, "__dict__", fields)
    object.__setattr__(event, "__pydantic_fields_set__", set(fields_set))
    object.__setattr__(event, "__pydantic_extra__", None)
    object.__setattr__(event, "__pydantic_private__", note)
    return event


_M = TypeVar("_M", bound=BaseModel)


def validated(model: type[_M], data: Any) -> _M:
    """``model.model_validate(data)``: the same validation, without model_validate's six
    keyword arguments (all None), which cost the validator about 1 µs to take in. For the
    hot paths: every event appended, every message consumed."""
    return model.__pydantic_validator__.validate_python(data)  # type: ignore[no-any-return]


def new_id() -> UUID:
    """A fresh time-ordered (v7) event id, as a plain ``uuid.UUID`` (what psycopg reads back,
    and what orjson writes natively)."""
    return UUID(int=uuid6.uuid7().int)


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
    """Wrap a payload in an envelope with a fresh time-ordered (v7) id.

    The payload is a validated model (built by its constructor or ``model_validate``, never
    ``model_construct``) and its dump plain JSON, so when every envelope value passes the
    checks CloudEvent's validation would make (``_valid_envelope``: the same patterns), the
    event is built without validating it again, and notes that its data was dumped from a
    validated payload (``CloudEvent.payload_checked``: the store does not validate it a
    second time); otherwise the validating constructor runs and says what is wrong."""
    event_type = type(payload).event_type
    data = payload.model_dump(mode="json")
    fields: dict[str, Any] = {
        "id": id or new_id(), "source": source, "type": event_type, "subject": subject,
        "time": time or datetime.now(UTC), "dataschema": schema_uri(event_type),
        "actor": actor, "causationid": causationid, "correlationid": correlationid,
        "data": data,
    }
    if not _valid_envelope(fields):
        return CloudEvent(**fields)
    return _built({"specversion": "1.0", "id": fields["id"], "source": source,
                   "type": event_type, "subject": subject,
                   "time": fields["time"].astimezone(UTC), "datacontenttype": "application/json",
                   "dataschema": fields["dataschema"], "actor": actor, "causationid": causationid,
                   "correlationid": correlationid, "sequence": None, "traceparent": None,
                   "tracestate": None, "data": data},
                  _NEW_EVENT_FIELDS, {_CHECKED: (type(payload), data)})


def _valid_envelope(f: dict[str, Any]) -> bool:
    return (type(f["id"]) in _UUIDS and _plain_str(f["source"]) and bool(f["source"])
            and _plain_str(f["subject"]) and SUBJECT_RE.fullmatch(f["subject"]) is not None
            and _valid_type(f["type"]) and _plain_str(f["actor"]) and _valid_actor(f["actor"])
            and type(f["time"]) is datetime and f["time"].tzinfo is not None
            and all(type(f[k]) in _UUIDS or f[k] is None for k in ("causationid",
                                                                 "correlationid")))


_UUIDS = (UUID, uuid6.UUID)


def _plain_str(value: Any) -> bool:
    return type(value) is str


@lru_cache(maxsize=256)
def _valid_type(event_type: str) -> bool:
    return _TYPE_RE.fullmatch(event_type) is not None  # as pydantic's (Rust) pattern


@lru_cache(maxsize=1024)
def _valid_actor(actor: str) -> bool:
    return ACTOR_RE.match(actor) is not None  # as _check_actor
