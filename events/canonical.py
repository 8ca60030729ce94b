"""The canonical serialisation an event's hash is computed over.

RFC 8785 (JSON Canonicalization Scheme) of the envelope's context attributes and data,
``sequence`` included, so that altering, removing or reordering an event changes a hash.

Speed: the ``rfc8785`` package is pure Python (~30 µs an event). For documents made only
of strings, booleans, nulls, integers within ±(2^53 - 1), lists and objects with ASCII keys
— every Shouwen payload — orjson with sorted keys produces the very same bytes (RFC 8785
then reduces to: sorted keys, no whitespace, minimal escapes, UTF-8), ten times faster.
Floats besides (a classification's confidence): orjson for all but the numbers, rfc8785
for each number. Any other document takes the reference path. A property test holds the
paths equal.
"""

from __future__ import annotations

from typing import Any

import orjson
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


_SAFE_INT = 2**53 - 1


def _plain(value: Any) -> bool:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -_SAFE_INT <= value <= _SAFE_INT
    if kind is dict:
        return all(type(k) is str and k.isascii() and _plain(v) for k, v in value.items())
    if kind is list:
        return all(_plain(v) for v in value)
    return False


def canonical_json(document: Any) -> bytes:
    """RFC 8785 bytes of ``document``."""
    if _plain(document):
        try:
            return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # e.g. a lone surrogate: let the reference decide
            pass
    else:
        spliced = _with_floats(document)
        if spliced is not None:
            return spliced
    return rfc8785.dumps(document)


# Plain but for floats (a classification's confidence): each float is written by rfc8785
# itself into orjson's output, in place of a marker string; a marker's text occurring in
# the document otherwise (its count is not 1) leaves the document to the reference path.
_NOT_PLAIN = object()
_MARK = "\x00rfc8785 float {}\x00"


def _with_floats(document: Any) -> bytes | None:
    floats: list[float] = []
    masked = _masked(document, floats)
    if masked is _NOT_PLAIN or not floats:
        return None
    try:
        out = orjson.dumps(masked, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return None
    for i, number in enumerate(floats):
        mark = orjson.dumps(_MARK.format(i))
        if out.count(mark) != 1:
            return None
        out = out.replace(mark, rfc8785.dumps(number))
    return out


def _masked(value: Any, floats: list[float]) -> Any:
    kind = type(value)
    if kind is float:
        floats.append(value)
        return _MARK.format(len(floats) - 1)
    if kind is dict:
        out = {}
        for k, v in value.items():
            item = _masked(v, floats)
            if type(k) is not str or not k.isascii() or item is _NOT_PLAIN:
                return _NOT_PLAIN
            out[k] = item
        return out
    if kind is list:
        items = [_masked(v, floats) for v in value]
        return _NOT_PLAIN if any(i is _NOT_PLAIN for i in items) else items
    return value if _plain(value) else _NOT_PLAIN


def canonical_bytes(event: CloudEvent) -> bytes:
    return canonical_json(canonical_dict(event))
