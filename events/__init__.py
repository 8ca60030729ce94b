"""The Shouwen event contract: the only thing services share about each other.

    CloudEvent (envelope, CloudEvents 1.0 + actor/causationid/correlationid/sequence)
      └── data: a payload model registered under its versioned type,
                e.g. ``shouwen.case.received.v1`` -> ``CaseReceived``

    registry   type string -> payload model; upcasters lift old versions on read
    kafka      the CloudEvents Kafka protocol binding (binary content mode)
    canonical  the canonical bytes an event's hash is computed over

    case, case_referral, case_outcome   the case lifecycle (intake, routing)
    case_matter                         suggested and chosen matters (routing, people)
    deadline                            time limits, warnings, breaches (deadline-watch)
    notification                        what people were told, and when (notification)
    accountability                      the procedure a complaint opens (ledger)
    inquirer                            an inquirer's personal data erased (events/sealed.py)
"""

from events.envelope import Actor, CloudEvent, new_event, new_id
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
    "new_id",
    "register",
    "registered_types",
    "upcast",
]

# Importing the payload modules registers their types.
from events import accountability as _accountability  # noqa: E402,F401
from events import case as _case  # noqa: E402,F401
from events import deadline as _deadline  # noqa: E402,F401
from events import directory as _directory  # noqa: E402,F401
from events import inquirer as _inquirer  # noqa: E402,F401
from events import notification as _notification  # noqa: E402,F401
