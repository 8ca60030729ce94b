"""Type string -> payload model, and the upcasters that lift old versions on read.

A payload change that breaks readers gets a new type version (``...v2``) and an upcaster
from the old one. Stored events are never rewritten: ``upcast`` is applied when reading.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from events.envelope import CloudEvent, validated


class UnknownEventType(LookupError):
    pass


class EventPayload(BaseModel):
    """Base of every payload. Subclasses set ``event_type``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[str]


P = TypeVar("P", bound=type[EventPayload])

_models: dict[str, type[EventPayload]] = {}
# old type -> (new type, function lifting old data to new data)
Lift = Callable[[dict[str, Any]], dict[str, Any]]
_upcasters: dict[str, tuple[str, Lift]] = {}


def register(model: P) -> P:
    """Class decorator: make a payload model known under its ``event_type``."""
    if model.event_type in _models and _models[model.event_type] is not model:
        raise ValueError(f"event type {model.event_type} registered twice")
    _models[model.event_type] = model
    return model


def upcaster(old_type: str, new_type: str) -> Callable[[Lift], Lift]:
    """Decorator: register a function lifting ``old_type`` data to ``new_type`` data."""

    def deco(fn: Lift) -> Lift:
        _upcasters[old_type] = (new_type, fn)
        return fn

    return deco


def model_for(event_type: str) -> type[EventPayload]:
    try:
        return _models[event_type]
    except KeyError:
        raise UnknownEventType(f"unknown event type {event_type!r}") from None


def registered_types() -> dict[str, type[EventPayload]]:
    return dict(sorted(_models.items()))


def newest_type(event_type: str) -> str:
    """The type ``event_type`` is read as: the end of its upcaster chain (itself when it has
    none). Whether that is registered is ``model_for``'s question."""
    seen = {event_type}
    while event_type in _upcasters:
        event_type = _upcasters[event_type][0]
        if event_type in seen:  # a cycle would make upcast loop too: no type at all
            raise UnknownEventType(f"upcaster cycle at {event_type!r}")
        seen.add(event_type)
    return event_type


def upcast_data(event_type: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """An event's type and data lifted to the newest version of its type (as they are when
    already newest): ``upcast`` without the envelope, for readers of a few fields."""
    while event_type in _upcasters:
        event_type, fn = _upcasters[event_type][0], _upcasters[event_type][1]
        data = fn(dict(data))
    return event_type, data


def upcast(event: CloudEvent) -> CloudEvent:
    """Lift an event to the newest version of its type (a no-op when already newest)."""
    event_type, data = upcast_data(event.type, event.data)
    if event_type == event.type:
        return event
    from events.envelope import schema_uri

    return event.model_copy(
        update={"type": event_type, "data": data, "dataschema": schema_uri(event_type)}
    )


def decode_payload(event: CloudEvent) -> EventPayload:
    """The typed payload of an event, upcast to its newest version."""
    lifted = upcast(event)
    return validated(model_for(lifted.type), lifted.data)
