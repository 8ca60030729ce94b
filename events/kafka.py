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

from events.envelope import CloudEvent

_ATTRS = ("specversion", "id", "source", "type", "subject", "time", "dataschema",
          "actor", "causationid", "correlationid", "sequence")


class UndecodableMessage(ValueError):
    """A Kafka message that is not a Shouwen CloudEvent."""


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def to_kafka(event: CloudEvent) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    headers: list[tuple[str, bytes]] = [("content-type", event.datacontenttype.encode())]
    for name in _ATTRS:
        value = getattr(event, name)
        if value is None:
            continue
        text = format_time(value) if isinstance(value, datetime) else str(value)
        headers.append((f"ce_{name}", text.encode()))
    value_bytes = orjson.dumps(event.data)  # UTF-8, no spaces, no escapes of Chinese text
    return event.subject.encode(), value_bytes, headers


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
        return CloudEvent.model_validate({**attrs, "data": data})
    except ValueError as exc:
        raise UndecodableMessage(f"invalid CloudEvent: {exc}") from exc

