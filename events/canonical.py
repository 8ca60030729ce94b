"""The canonical serialisation an event's hash is computed over.

RFC 8785 (JSON Canonicalization Scheme) of the envelope's context attributes and data,
``sequence`` included, so that altering, removing or reordering an event changes a hash.
"""

from __future__ import annotations

from typing import Any

import rfc8785

from events.envelope import CloudEvent
from events.kafka import format_time


def canonical_dict(event: CloudEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "time": format_time(event.time),
        "dataschema": event.dataschema,
        "actor": event.actor,
        "causationid": str(event.causationid) if event.causationid else None,
        "correlationid": str(event.correlationid) if event.correlationid else None,
        "sequence": event.sequence,
        "data": event.data,
    }


def canonical_bytes(event: CloudEvent) -> bytes:
    return rfc8785.dumps(canonical_dict(event))
