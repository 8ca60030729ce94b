"""The canonical serialisation an event's hash is computed over.

RFC 8785 (JSON Canonicalization Scheme) of the envelope's context attributes and data,
``sequence`` included, so that altering, removing or reordering an event changes a hash.

Speed: the ``rfc8785`` package is pure Python (~30 µs an event). For documents made only
of strings, booleans, nulls, integers within ±(2^53 - 1), lists and objects with ASCII keys
— every Shouwen payload — orjson with sorted keys produces the very same bytes (RFC 8785
then reduces to: sorted keys, no whitespace, minimal escapes, UTF-8), ten times faster.
Floats besides (a classification's confidence): each float value is looked at once (and
remembered): orjson writes most as rfc8785 does (the shortest round-trip digits); 1.0 is
written as the integer 1; the rest (1e21, 1e-7) get rfc8785's text spliced into orjson's
output. Any other document takes the reference path. One walk decides; a property test
holds the paths equal.

Checking a stored hash (``shouwen verify``, a case's chain in the ledger's replay) uses
``optimistic_json``: orjson with sorted keys and no walk at all — the canonical bytes of
every plain document; when its hash does not match, the checker asks ``canonical_json``
before it calls the event altered. One fast path, here, for every checker.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

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
_LEAVES = frozenset({str, bool, type(None)})
_NOT_PLAIN = object()
# A float orjson would write otherwise than rfc8785 and that is not an integer either
# (1e21, 1e-7): a marker string in orjson's output, replaced by rfc8785's text; a marker's
# text occurring in the document otherwise (its count is not 1) leaves it to the reference.
_MARK = "\x00rfc8785 float {}\x00"


def optimistic_json(document: Any) -> bytes:
    """``canonical_json(document)`` for a plain document, cheaper still (no walk); other
    bytes, or b"" when orjson cannot write it, for anything else: a hash over these that
    matches is proof enough, a mismatch must be confirmed with ``canonical_json``."""
    try:
        return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return b""


def canonical_json(document: Any) -> bytes:
    """RFC 8785 bytes of ``document``."""
    marked: list[bytes] = []
    return _written(document, _plain(document, marked), marked)


def _written(document: Any, plain: Any, marked: list[bytes]) -> bytes:
    """RFC 8785 bytes of ``document``, given what its one walk (``_plain``) found."""
    if plain is not _NOT_PLAIN:
        try:
            out = orjson.dumps(plain, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # e.g. a lone surrogate: let the reference decide
            return rfc8785.dumps(document)
        for i, number in enumerate(marked):
            mark = orjson.dumps(_MARK.format(i))
            if out.count(mark) != 1:
                return rfc8785.dumps(document)
            out = out.replace(mark, number)
        return out
    return rfc8785.dumps(document)


def _plain(value: Any, marked: list[bytes]) -> Any:
    """One walk: ``value`` as orjson may write it (itself, unless a float had to be put as
    rfc8785 writes it: then copies of the containers on its path), or _NOT_PLAIN."""
    kind = type(value)
    if kind is dict:
        # The common payload, all at once: ASCII string keys, strings, booleans and nulls.
        try:
            ascii_keys = "".join(value).isascii()
        except TypeError:  # a key that is not a string
            return _NOT_PLAIN
        if not ascii_keys:
            return _NOT_PLAIN
        if set(map(type, value.values())) <= _LEAVES:
            return value
        out = None
        for k, v in value.items():
            kv = type(v)
            if kv is str or kv is bool or v is None:
                continue
            item = _plain(v, marked)
            if item is not v:
                if item is _NOT_PLAIN:
                    return _NOT_PLAIN
                out = out if out is not None else dict(value)
                out[k] = item
        return value if out is None else out
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        return value if -_SAFE_INT <= value <= _SAFE_INT else _NOT_PLAIN
    if kind is float:
        how = _float_as(value.hex())  # hex: -0.0 and 0.0 are not one key
        if type(how) is bytes:
            marked.append(how)
            return _MARK.format(len(marked) - 1)
        return value if how is None else how
    if kind is list:
        items = [_plain(v, marked) for v in value]
        if any(i is _NOT_PLAIN for i in items):
            return _NOT_PLAIN
        return value if all(i is v for i, v in zip(items, value, strict=True)) else items
    return _NOT_PLAIN


@lru_cache(maxsize=4096)
def _float_as(bits: str) -> Any:
    """How a float goes to orjson: None (as it is: orjson writes rfc8785's text), an int
    (1.0 is written "1"), rfc8785's bytes (to be spliced in), or _NOT_PLAIN (NaN, inf)."""
    number = float.fromhex(bits)
    try:
        text = rfc8785.dumps(number)
    except rfc8785.CanonicalizationError:
        return _NOT_PLAIN
    if orjson.dumps(number) == text:
        return None
    if number.is_integer() and abs(number) <= _SAFE_INT and orjson.dumps(int(number)) == text:
        return int(number)
    return text


def canonical_bytes(event: CloudEvent) -> bytes:
    marked: list[bytes] = []
    plain = _plain(event.data, marked)
    if plain is event.data:  # orjson writes it as it is: with its envelope, in one go
        return _envelope_bytes(event, event.data)
    return canonical_envelope(event, _written(event.data, plain, marked))


def canonical_envelope(event: CloudEvent, data: bytes) -> bytes:
    """The event's canonical bytes, given its data's (``canonical_json(event.data)``): the
    data is walked and written once, and the same bytes can go on to storage. The envelope
    holds only ASCII keys, strings, a small integer and nulls, which orjson (sorted keys)
    writes as RFC 8785 does; a string orjson refuses (a lone surrogate) takes the
    reference path for the whole document. UUIDs and a UTC time with microseconds go to
    orjson as they are: it writes them as ``canonical_dict`` does (the time ending in Z),
    in its own code rather than Python's."""
    return _envelope_bytes(event, orjson.Fragment(data))


def _envelope_bytes(event: CloudEvent, data: Any) -> bytes:
    """``data``: the data's canonical JSON as a Fragment, or the data itself when orjson
    writes it as RFC 8785 does (``_plain`` left it as it is)."""
    envelope = {
        "id": _uuid(event.id), "source": event.source, "type": event.type,
        "subject": event.subject, "time": _time(event.time), "dataschema": event.dataschema,
        "actor": event.actor, "causationid": _uuid(event.causationid),
        "correlationid": _uuid(event.correlationid), "sequence": event.sequence,
        "data": data,
    }
    try:
        return orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError:
        return canonical_json(canonical_dict(event))


def _uuid(value: UUID | None) -> UUID | str | None:
    return value if value is None or type(value) is UUID else str(value)


def _time(value: datetime) -> datetime | str:
    # orjson leaves out a zero fraction, canonical_dict does not: that one is written here
    return value if value.tzinfo is UTC and value.microsecond else format_time(value)
