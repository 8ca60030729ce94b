"""The Shouwen event contract: the only thing services share about each other.

    CloudEvent (envelope, CloudEvents 1.0 + actor/causationid/correlationid/sequence)
      └── data: a payload model registered under its versioned type,
                e.g. ``shouwen.case.received.v1`` -> ``CaseReceived``

    registry   type string -> payload model; upcasters lift old versions on read
    kafka      the CloudEvents Kafka protocol binding (binary content mode)
    canonical  the canonical bytes an event's hash is computed over
"""

from events.envelope import Actor, CloudEvent, new_event
from events.registry import (
    EventPayload,
    UnknownEventType,
    decode_payload,
    model_for,
    register,
    registered_types,
    upcast,
)

__all__ = [
    "Actor",
    "CloudEvent",
    "EventPayload",
    "UnknownEventType",
    "decode_payload",
    "model_for",
    "new_event",
    "register",
    "registered_types",
    "upcast",
]

# Importing the payload modules registers their types.
from events import case as _case  # noqa: E402,F401
from events import directory as _directory  # noqa: E402,F401
