"""The CloudEvents Kafka protocol binding, binary content mode.

    key      the subject (case id), UTF-8 — so each case stays on one partition, in order
    value    the data, JSON (UTF-8)
    headers  ce_<attribute> for every context attribute and extension, UTF-8 strings;
             content-type for datacontenttype

Any CloudEvents SDK reads this (tests prove it with the Python SDK's ``from_binary``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from events.envelope import CloudEvent, validated

_CONTENT_TYPE, _JSON = "content-type", b"application/json"  # datacontenttype: always JSON
_SPECVERSION, _V1 = "ce_specversion", b"1.0"


class UndecodableMessage(ValueError):
    """A Kafka message that is not a Shouwen CloudEvent."""


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def to_kafka(event: CloudEvent) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    d = event.__dict__
    return binary_message(
        d["id"], d["source"], d["type"], d["subject"], d["time"], d["dataschema"], d["actor"],
        d["causationid"], d["correlationid"], d["sequence"], d["data"],
        traceparent=d.get("traceparent"), tracestate=d.get("tracestate"),
    )


def binary_message(
    id: Any, source: str, type: str, subject: str, time: datetime, dataschema: str | None,
    actor: str, causationid: Any, correlationid: Any, sequence: int | None, data: Any,
    traceparent: str | None = None, tracestate: str | None = None,
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of an event given by its attributes, values the envelope
    already holds valid (the store's rows are: they were validated on append). The relay
    calls this on each stored row, without building a CloudEvent first."""
    headers = [(_CONTENT_TYPE, _JSON), (_SPECVERSION, _V1), ("ce_id", str(id).encode()),
               ("ce_source", source.encode()), ("ce_type", type.encode()),
               ("ce_subject", subject.encode()), ("ce_time", format_time(time).encode())]
    if dataschema is not None:
        headers.append(("ce_dataschema", dataschema.encode()))
    headers.append(("ce_actor", actor.encode()))
    if causationid is not None:
        headers.append(("ce_causationid", str(causationid).encode()))
    if correlationid is not None:
        headers.append(("ce_correlationid", str(correlationid).encode()))
    if sequence is not None:
        headers.append(("ce_sequence", str(sequence).encode()))
    if traceparent is not None:  # the distributed-tracing extension
        headers.append(("ce_traceparent", traceparent.encode()))
        if tracestate:
            headers.append(("ce_tracestate", tracestate.encode()))
    value = orjson.dumps(data)  # UTF-8, no spaces, no escapes of Chinese text
    return subject.encode(), value, headers


def type_header(headers: Iterable[tuple[str, bytes | None]]) -> str | None:
    """The ``ce_type`` header, read without decoding anything else: None when there is none,
    more than one, or it is not UTF-8 (the full decode then says what is wrong)."""
    found: bytes | None = None
    for name, raw in headers:
        if name == "ce_type":
            if found is not None or raw is None:
                return None
            found = raw
    if found is None:
        return None
    try:
        return found.decode()
    except UnicodeDecodeError:
        return None


def from_kafka(
    value: bytes | None, headers: Iterable[tuple[str, bytes | None]] | Sequence[Any]
) -> CloudEvent:
    """Decode a binary-mode CloudEvent; raises UndecodableMessage saying what is wrong."""
    attrs: dict[str, Any] = {}
    for name, raw in headers:
        if name.startswith("ce_") and raw is not None:
            try:
                attrs[name[3:]] = raw.decode()
            except UnicodeDecodeError as exc:
                raise UndecodableMessage(f"header {name} is not UTF-8") from exc
    if "specversion" not in attrs:
        raise UndecodableMessage("not a CloudEvent: no ce_specversion header")
    if value is None:
        raise UndecodableMessage("message has no value (data)")
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise UndecodableMessage(f"data is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UndecodableMessage("data must be a JSON object")
    try:
        return validated(CloudEvent, {**attrs, "data": data})
    except ValueError as exc:
        raise UndecodableMessage(f"invalid CloudEvent: {exc}") from exc

