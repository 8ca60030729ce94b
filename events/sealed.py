"""Personal fields sealed with their inquirer's data key, and the one decryptor (crypto-shredding).

    seal_data(type, event id, data, kid, key)   every personal string (the contract's
                                                ``x-personal-data`` fields) -> a token
        "张三"  ->  "enc:v1:<kid>:<base64url(nonce 12 || AES-256-GCM ciphertext || tag 16)>"
        associated data: "<event id>/<field path>" (e.g. ".../pickup_record.collector_name"),
        so a token moved to another event or field does not open
    Decryptor(source).open_event(event, conn)   the event with every token opened, through a
                                                cache of data keys (hits, misses, erased);
                                                a key that is gone opens as ERASED, never raises

Sealing happens before the event is hashed, stored and published: the hash chain and the
Merkle tree cover the ciphertext, so destroying a key (erasure) changes no hash. A plain
value (written before the cut-over) is left as it is. No I/O here: the key source is given.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable
from functools import cache, lru_cache
from typing import Any, Protocol
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from events.personal import Plan, _Array, _Object, plan_for_type

PREFIX = "enc:v1:"
ERASED = "[已删除 erased]"
ERASED_TYPE = "shouwen.case.inquirer_erased.v1"  # events/inquirer.py
KEY_BYTES = 32
_NONCE = 12


def key_id_of(token: str) -> str:
    return token[len(PREFIX):].split(":", 1)[0]


class _Nonces:
    """96-bit GCM nonces, never repeated: a random 64-bit field drawn per process (and again
    every 2^32 nonces) followed by a 32-bit counter (NIST SP 800-38D 8.2.1, the
    deterministic construction). One getrandom call per 2^32 seals, not one per seal: on a
    busy machine that call cost more than the encryption."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prefix, self._count = os.urandom(8), 0
        os.register_at_fork(after_in_child=self._redraw)  # a child never shares the field

    def _redraw(self) -> None:
        self._lock = threading.Lock()
        self._prefix, self._count = os.urandom(8), 0

    def next(self) -> bytes:
        prefix, count = self.take(1)
        return prefix + count.to_bytes(4, "big")

    def take(self, n: int) -> tuple[bytes, int]:
        """``n`` nonces in one go: the field and the first of ``n`` counters, all this
        caller's (a batch takes its nonces under one lock; those it leaves unused are
        never handed out again)."""
        with self._lock:
            if self._count + n > 2**32:
                self._prefix, self._count = os.urandom(8), 0
            count, self._count = self._count, self._count + n
            return self._prefix, count


_NONCES = _Nonces()


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64url(raw: bytes) -> str:
    """``base64.urlsafe_b64encode(raw)`` without its padding, as text, in fewer steps."""
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def open_value(aead: AESGCM, aad: bytes, token: str) -> str:
    """The plain text; raises InvalidTag (wrong key, event or field) or ValueError."""
    blob = token.rsplit(":", 1)[1]
    raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
    return aead.decrypt(raw[:_NONCE], raw[_NONCE:], aad).decode()


@lru_cache(maxsize=4096)
def aead_for(key: bytes) -> AESGCM:
    """The cipher of a data key, made once (its constructor costs as much as a seal)."""
    return AESGCM(key)


def has_personal_fields(event_type: str) -> bool:
    return plan_for_type(event_type) is not False


def seal_data(event_type: str, event_id: UUID | str, data: dict[str, Any], kid: str,
              key: bytes) -> dict[str, Any]:
    """A copy of ``data`` with every personal string sealed (tokens already there kept);
    ``data`` itself when it holds no personal string to seal."""
    return seal_many([(event_type, event_id, data, kid, key)])[0]


Sealing = tuple[str, UUID | str, dict[str, Any], str, bytes]  # type, id, data, kid, key


def seal_many(items: Iterable[Sealing]) -> list[dict[str, Any]]:
    """``seal_data`` of each (event type, event id, data, kid, key), the batch's nonces taken
    in blocks under one lock. The same tokens as one at a time: each field has its own
    nonce, its key's cipher and the associated data "<event id>/<field path>"."""
    nonces = _Batch()
    out: list[dict[str, Any]] = []
    for event_type, event_id, data, kid, key in items:
        flat = _flat_fields(event_type)
        if flat is None:  # nested objects or arrays of personal fields: the general walk
            plan = plan_for_type(event_type)
            if plan is False:
                out.append(data)
                continue
            aead, head, prefix = aead_for(key), f"{PREFIX}{kid}:", f"{event_id}/"

            def seal(path: str, value: str, aead: AESGCM = aead, head: str = head,
                     prefix: str = prefix) -> str:
                if value.startswith(PREFIX):
                    return value
                return nonces.seal(aead, head, (prefix + path).encode(), value)

            walked = _walk(plan, data, "", seal)
            out.append(walked if isinstance(walked, dict) else data)
            continue
        copy: dict[str, Any] | None = None
        for name, path in flat:  # the common shape: personal strings at the top level
            value = data.get(name)
            if isinstance(value, str) and not value.startswith(PREFIX):
                if copy is None:
                    copy = dict(data)
                    aead, head, prefix_b = aead_for(key), f"{PREFIX}{kid}:", _aad_prefix(event_id)
                copy[name] = nonces.seal(aead, head, prefix_b + path, value)
        out.append(data if copy is None else copy)
    return out


def _aad_prefix(event_id: UUID | str) -> bytes:
    """``f"{event_id}/".encode()``; a UUID written by orjson (the same text, str() of a UUID
    costs more than its encryption)."""
    if type(event_id) is UUID:
        return orjson.dumps(event_id)[1:-1] + b"/"
    return f"{event_id}/".encode()


class _Batch:
    """A batch's nonces: blocks taken from _NONCES under its lock, handed out in order."""

    BLOCK = 256  # nonces a lock: a batch of 100 events of two personal fields takes one

    def __init__(self) -> None:
        self._prefix, self._next, self._end = b"", 0, 0

    def seal(self, aead: AESGCM, head: str, aad: bytes, plain: str) -> str:
        if self._next == self._end:
            self._prefix, self._next = _NONCES.take(self.BLOCK)
            self._end = self._next + self.BLOCK
        nonce = self._prefix + self._next.to_bytes(4, "big")
        self._next += 1
        return head + _b64url(nonce + aead.encrypt(nonce, plain.encode(), aad))


@cache
def _flat_fields(event_type: str) -> tuple[tuple[str, bytes], ...] | None:
    """A type whose personal fields are all top-level values: (name, its path as bytes),
    for the short path; None for any other shape (or no personal fields)."""
    plan = plan_for_type(event_type)
    if not isinstance(plan, _Object) or any(p is not True for p in plan.fields.values()):
        return None
    return tuple((name, name.encode()) for name in plan.fields)


def tokens_in(event_type: str, data: dict[str, Any]) -> list[str]:
    found: list[str] = []
    _collect(plan_for_type(event_type), data, found)
    return found


def _collect(plan: Plan, value: Any, found: list[str]) -> None:
    if plan is False or value is None:
        return
    if isinstance(plan, _Object) and isinstance(value, dict):
        for name, sub in plan.fields.items():
            if sub is not False and name in value:
                _collect(sub, value[name], found)
    elif isinstance(plan, _Array) and isinstance(value, list):
        for v in value:
            _collect(plan.items, v, found)
    elif plan is True and type(value) is str and value.startswith(PREFIX):
        found.append(value)


def _walk(plan: Plan, value: Any, path: str, fn: Callable[[str, str], str]) -> Any:
    if plan is False or value is None:
        return value
    if isinstance(plan, _Object) and isinstance(value, dict):
        out = dict(value)
        for name, sub in plan.fields.items():
            if name in value and sub is not False:
                out[name] = _walk(sub, value[name], f"{path}.{name}" if path else name, fn)
        return out
    if isinstance(plan, _Array) and isinstance(value, list):
        return [_walk(plan.items, v, f"{path}.{i}", fn) for i, v in enumerate(value)]
    if plan is True and isinstance(value, str):
        return fn(path, value)
    return value


class KeySource(Protocol):
    """Where data keys come from: ``load(kids, conn)`` -> {kid: key, or None if destroyed}."""

    def load(self, kids: Collection[str], conn: Any) -> dict[str, bytes | None]: ...


class Decryptor:
    """Opens sealed fields for the readers that need plain values. Keys are cached for
    ``ttl`` seconds (a destroyed key: for good); ``forget(kid)`` drops one at once (the
    erasure, and a consumer that sees the ``inquirer_erased`` event, call it)."""

    def __init__(self, source: KeySource, ttl: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.source, self.ttl, self.clock = source, ttl, clock
        self._keys: dict[str, tuple[bytes | None, float]] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = self.erased = self.failures = 0

    def forget(self, kid: str) -> None:
        with self._lock:
            self._keys.pop(kid, None)

    def keys(self, kids: Collection[str], conn: Any) -> dict[str, bytes | None]:
        now, found, wanted = self.clock(), {}, []
        with self._lock:
            for kid in kids:
                cached = self._keys.get(kid)
                if cached is not None and (cached[0] is None or cached[1] > now):
                    found[kid] = cached[0]
                else:
                    wanted.append(kid)
            self.hits += len(found)
            self.misses += len(wanted)
        if wanted:
            loaded = self.source.load(wanted, conn)
            with self._lock:
                for kid in wanted:
                    key = loaded.get(kid)
                    found[kid] = key
                    self._keys[kid] = (key, now + self.ttl)
        return found

    def open_data(self, event_type: str, event_id: UUID | str, data: dict[str, Any],
                  conn: Any = None) -> dict[str, Any]:
        """``data`` with every token opened; ERASED where its key is gone or it does not
        open (a token copied from elsewhere). Data without tokens comes back as it is."""
        if plan_for_type(event_type) is False:
            return data
        tokens = tokens_in(event_type, data)
        if not tokens:
            return data
        return self._opened(event_type, event_id, data,
                            self.keys({key_id_of(t) for t in tokens}, conn))

    def _opened(self, event_type: str, event_id: UUID | str, data: dict[str, Any],
                keys: dict[str, bytes | None]) -> dict[str, Any]:
        prefix = f"{event_id}/"

        def open_(path: str, value: str) -> str:
            if not value.startswith(PREFIX):
                return value
            kid = key_id_of(value)
            key = keys.get(kid)
            if key is None:
                self.erased += 1
                return ERASED
            try:
                return open_value(aead_for(key), (prefix + path).encode(), value)
            except (InvalidTag, ValueError):
                self.failures += 1
                return ERASED

        out = _walk(plan_for_type(event_type), data, "", open_)
        return out if isinstance(out, dict) else data

    def open_events(self, events: list[Any], conn: Any = None) -> list[Any]:
        """A case's events, opened, with one key lookup for all; a key its stream says was
        erased is dropped from the cache first (another process may have destroyed it
        within the cache's lifetime)."""
        kids: set[str] = set()
        sealed: set[Any] = set()  # ids of the events holding a token
        for e in events:
            if e.type == ERASED_TYPE:
                self.forget(str(e.data.get("key_id")))
            elif plan_for_type(e.type) is not False:
                tokens = tokens_in(e.type, e.data)
                if tokens:
                    sealed.add(e.id)
                    kids.update(key_id_of(t) for t in tokens)
        if not kids:
            return events
        keys = self.keys(kids, conn)
        return [_with_data(e, self._opened(e.type, e.id, e.data, keys)) if e.id in sealed
                else e for e in events]

    def open_event(self, event: Any, conn: Any = None) -> Any:
        """The event (a CloudEvent, or any record with ``type``, ``id`` and ``data``) with
        its data opened; the very same object when it holds no token."""
        data = self.open_data(event.type, event.id, event.data, conn)
        return event if data is event.data else _with_data(event, data)


def _with_data(event: Any, data: dict[str, Any]) -> Any:
    if hasattr(event, "_replace"):
        return event._replace(data=data)
    if hasattr(event, "with_data"):
        return event.with_data(data)
    return event.model_copy(update={"data": data})
