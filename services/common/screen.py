"""What a consumer checks before any handler sees a message (both bases, one place).

    decode(delivery) ─▶ (raw, event)        raw: as on the wire (what the store hashed);
                                            event: upcast to its newest version
        not a CloudEvent              ─▶ Rejected "undecodable"
        key != subject                ─▶ Rejected "key-mismatch"
        type not registered, and no upcaster leads to a registered one:
            its name is known under another version ─▶ Rejected "unknown-version"
            not at all                               ─▶ Rejected "unknown-type"
        an upcaster raised            ─▶ Rejected "upcast-failed"
    verify(conn, raws)  ─▶ [Rejected | None]       ONE query for a whole batch, by position
        no event with that id in the store             "not-in-store"
        stored under another stream or version          "chain-mismatch"
        sha256(stored prev_hash || canonical bytes of the message) != stored hash
                                                        "altered"

The store's per-stream hash chain is the proof: an event's hash covers its canonical bytes
and its predecessor's hash, so a message that recomputes to the stored hash is exactly the
event appended at that place in its case's chain, linked to the one before it. A message
forged with a well-formed ``prev_hash`` and hash of its own (anyone can compute a sha256)
still fails, because the store holds no such event: nothing is applied that is not in the
store. A rejected message is dead-lettered with its reason; it is never handed to a
handler, never recorded in the inbox, and so never moves a projection's version guard.
"""

from __future__ import annotations

import hashlib

import psycopg

from events import CloudEvent, UnknownEventType, model_for, registered_types, upcast
from events.canonical import canonical_bytes
from events.kafka import UndecodableMessage, from_kafka
from services.common.deadletter import Delivery
from services.common.eventstore import stored_hashes


class Rejected(Exception):
    """A message a consumer must not apply; ``reason`` goes to ``dlq_reason``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def decode(delivery: Delivery) -> tuple[CloudEvent, CloudEvent]:
    try:
        raw = from_kafka(delivery.value, delivery.headers)
    except UndecodableMessage as exc:
        raise Rejected("undecodable", str(exc)) from exc
    key = delivery.key.decode(errors="replace") if delivery.key is not None else None
    if key != raw.subject:
        raise Rejected("key-mismatch", f"message key {key!r} is not the subject {raw.subject!r}")
    try:
        event = upcast(raw)
    except Exception as exc:
        raise Rejected("upcast-failed", f"{raw.type}: {type(exc).__name__}: {exc}") from exc
    try:
        model_for(event.type)
    except UnknownEventType:
        raise _unknown(raw.type) from None
    return raw, event


def _unknown(event_type: str) -> Rejected:
    name = event_type.rpartition(".v")[0]
    versions = sorted(t for t in registered_types() if t.rpartition(".v")[0] == name)
    if versions:
        return Rejected("unknown-version", f"{event_type}: no such version and no upcaster "
                        f"to a known one (known: {', '.join(versions)})")
    return Rejected("unknown-type", f"unknown event type {event_type!r}")


def verify(conn: psycopg.Connection, raws: list[CloudEvent]) -> list[Rejected | None]:
    """For each message of ``raws``, in order: why it is not exactly an event of the store,
    or None. By position, not by id: a forged copy of a stored event carries that event's
    id, and the real one beside it in the same batch must still pass."""
    if not raws:
        return []
    stored = stored_hashes(conn, [e.id for e in raws])
    return [_check(event, stored.get(event.id)) for event in raws]


def _check(event: CloudEvent, row: tuple[str, int, bytes, bytes] | None) -> Rejected | None:
    if row is None:
        return Rejected("not-in-store", f"event {event.id} ({event.type}, case "
                        f"{event.subject}) is not in the event store")
    stream, version, prev_hash, stored_hash = row
    if stream != event.subject or version != event.sequence:
        return Rejected("chain-mismatch", f"event {event.id} is stored as {stream!r} version "
                        f"{version}, the message says {event.subject!r} version {event.sequence}")
    if hashlib.sha256(prev_hash + canonical_bytes(event)).digest() != stored_hash:
        return Rejected("altered", f"event {event.id} (case {event.subject} version {version})"
                        " does not hash to the stored event's hash: the message was altered")
    return None
