"""Inquirers' data keys in PostgreSQL, wrapped by a key-encryption key (KEK); the process's
sealer and decryptor. The crypto itself is in ``events/sealed.py``.

    pii_keys   ref (the inquirer's reference, also the key id in every token), blind index
               (HMAC of their ID number, phone or e-mail: the same person's next case gets
               the same key), wrapped data key (NULL once destroyed), erased_at/by/reason
    pii_cases  case id -> inquirer ref
    pii_cutover  the event-store position from which personal fields are sealed

    personal_data()              the process's PersonalData (from the SHOUWEN_PII_* settings)
      .enabled                   whether this process starts sealing (SHOUWEN_PII_ENCRYPTION;
                                 on in `make up`); once a store is cut over (pii_cutover)
                                 every writer seals, or refuses without a KEK (.sealing)
      .decryptor                 the one Decryptor: readers call .open_event(event, conn)
      .key_for_received(conn, event) / _async   find or make the inquirer's key
      .keys_for_streams(conn, stream ids)       the key of each case (made if missing)

The KEK and its sources (a KMS adapter, an env variable, a file, the development file in
the data dir) are in ``services/common/kek.py``.

A writer may seal with a key for up to SHOUWEN_PII_KEY_CACHE_SECONDS after another process
destroyed it: that value is then unreadable, as erased data should be.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from typing import Any
from uuid import UUID

import psycopg
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from events import CloudEvent
from events.sealed import (
    KEY_BYTES,
    Decryptor,
    aead_for,
    has_personal_fields,
    seal_data,
    seal_many,
)
from services.common.kek import Kek, LocalKek, PiiConfigError, PiiSettings, kek_from_settings

__all__ = ["Kek", "LocalKek", "PersonalData", "PiiSettings", "open_data", "open_event",
           "open_events", "personal_data", "reset_personal_data"]


def new_ref() -> str:
    return "inq-" + secrets.token_hex(8)


def blind_text(data: dict[str, Any]) -> str | None:
    """What identifies an inquirer across cases: ID number, else phone, else e-mail."""
    for field, kind in (("inquirer_id_number", "id"), ("inquirer_phone", "phone"),
                        ("inquirer_email", "email")):
        value = data.get(field)
        if isinstance(value, str) and value.strip():
            norm = "".join(value.split()).upper() if kind != "email" else value.strip().lower()
            if kind == "phone":
                norm = norm.removeprefix("+86")
            return f"{kind}:{norm}"
    return None


class PgKeySource:
    """Data keys from ``pii_keys``, unwrapped by the KEK (None: destroyed or unknown)."""

    def __init__(self, kek: Kek) -> None:
        self.kek = kek

    def load(self, kids: Collection[str], conn: Any) -> dict[str, bytes | None]:
        rows = conn.execute("SELECT ref, wrapped FROM pii_keys WHERE ref = ANY(%s)",
                            (list(kids),)).fetchall()
        return {r[0]: self.kek.unwrap(bytes(r[1]), r[0]) if r[1] is not None else None
                for r in rows}


# One round trip: a new key goes in, or the inquirer's existing key (same blind index) comes
# back. Nothing, when a concurrent writer is inserting the same person's key: try again.
_FIND_OR_MAKE = (
    "WITH made AS (INSERT INTO pii_keys (ref, blind_index, wrapped, kek_id)"
    " VALUES (%(ref)s, %(blind)s, %(wrapped)s, %(kek)s) ON CONFLICT DO NOTHING"
    " RETURNING ref, wrapped)"
    " SELECT ref, wrapped, true FROM made UNION ALL SELECT ref, wrapped, false FROM pii_keys"
    " WHERE blind_index = %(blind)s AND NOT EXISTS (SELECT 1 FROM made)")
_INSERT_KEY = ("INSERT INTO pii_keys (ref, blind_index, wrapped, kek_id) VALUES (%s, %s, %s, %s)"
               " ON CONFLICT DO NOTHING RETURNING ref")
_STREAM_KEYS = ("SELECT c.case_id, k.ref, k.wrapped FROM pii_cases c"
                " JOIN pii_keys k ON k.ref = c.inquirer_ref WHERE c.case_id = ANY(%s)")
_LINK = "INSERT INTO pii_cases (case_id, inquirer_ref) VALUES (%s, %s) ON CONFLICT DO NOTHING"
_CUTOVER = ("INSERT INTO pii_cutover (id, position, kek_id)"
            " SELECT 1, coalesce(max(position), 0), %s FROM events ON CONFLICT DO NOTHING")

SealKey = tuple[str, bytes]  # (ref = key id, data key)


class PersonalData:
    def __init__(self, kek: Kek | None, enabled: bool, cache_seconds: float = 30.0) -> None:
        self.kek, self.enabled, self.ttl = kek, enabled and kek is not None, cache_seconds
        self.decryptor = Decryptor(_NoKeys() if kek is None else PgKeySource(kek), cache_seconds)
        self._streams: dict[str, tuple[SealKey, float]] = {}
        self._lock = threading.Lock()
        self._cut: dict[str, float] = {}  # database -> until when "cut over" is known (inf)

    # -- writers -------------------------------------------------------------------------
    def _unwrap(self, ref: str, wrapped: Any) -> bytes:
        assert self.kek is not None
        if wrapped is None:  # erased: seal with a key nobody keeps, unreadable at once
            return secrets.token_bytes(KEY_BYTES)
        return self.kek.unwrap(bytes(wrapped), ref)

    def _new_key(self) -> tuple[str, bytes, bytes]:
        assert self.kek is not None
        ref, key = new_ref(), secrets.token_bytes(KEY_BYTES)
        return ref, key, self.kek.wrap(key, ref)

    def _cutover(self, conn: psycopg.Connection) -> None:
        if self._cut.get(_db(conn), 0.0) != _FOREVER:
            assert self.kek is not None
            conn.execute(_CUTOVER, (self.kek.kek_id,))
            self._cut[_db(conn)] = _FOREVER

    def sealing(self, conn: psycopg.Connection) -> bool:
        """Whether personal fields written on ``conn`` must be sealed: encryption is on here,
        or the store was cut over by another process (then this one seals too, with the
        KEK, or refuses: once cut over, never plain text again)."""
        if self.enabled:
            return True
        db, now = _db(conn), time.monotonic()
        if self._cut.get(db, 0.0) < now:
            cut = conn.execute("SELECT 1 FROM pii_cutover").fetchone() is not None
            self._cut[db] = _FOREVER if cut else now + self.ttl
        return self._must_seal(db)

    async def sealing_async(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        if self.enabled:
            return True
        db, now = _db(conn), time.monotonic()
        if self._cut.get(db, 0.0) < now:
            cur = await conn.execute("SELECT 1 FROM pii_cutover")
            self._cut[db] = _FOREVER if await cur.fetchone() is not None else now + self.ttl
        return self._must_seal(db)

    def _must_seal(self, db: str) -> bool:
        if self._cut[db] != _FOREVER:
            return False
        if self.kek is None:
            raise PiiConfigError(
                "this store seals personal data (pii_cutover) but this process has no "
                "key-encryption key: set SHOUWEN_PII_KEK_PROVIDER, SHOUWEN_PII_KEK or "
                "SHOUWEN_PII_KEK_PATH (or SHOUWEN_DATA_DIR to the one with pii/kek)")
        return True

    def _attempts(self, event: CloudEvent) -> Iterator[tuple[dict[str, Any], bytes]]:
        """Three tries at _FIND_OR_MAKE, each with a fresh key ready to go in."""
        assert self.kek is not None
        text = blind_text(event.data)
        blind = self.kek.blind(text) if text else None
        for _ in range(3):
            ref, key, wrapped = self._new_key()
            yield {"ref": ref, "blind": blind, "wrapped": wrapped,
                   "kek": self.kek.kek_id}, key

    def key_for_received(self, conn: psycopg.Connection, event: CloudEvent) -> SealKey | None:
        """The key of the inquirer of a new case (found by blind index, or made)."""
        if not self.sealing(conn):
            return None
        self._cutover(conn)
        for params, key in self._attempts(event):
            row = conn.execute(_FIND_OR_MAKE, params).fetchone()
            if row is not None:
                return row[0], key if row[2] else self._unwrap(row[0], row[1])
        raise RuntimeError("could not find or make the inquirer's data key")

    async def key_for_received_async(self, conn: psycopg.AsyncConnection[Any],
                                     event: CloudEvent) -> SealKey | None:
        if not await self.sealing_async(conn):
            return None
        assert self.kek is not None
        if self._cut.get(_db(conn), 0.0) != _FOREVER:
            await conn.execute(_CUTOVER, (self.kek.kek_id,))
            self._cut[_db(conn)] = _FOREVER
        for params, key in self._attempts(event):
            row = await (await conn.execute(_FIND_OR_MAKE, params)).fetchone()
            if row is not None:
                return row[0], key if row[2] else self._unwrap(row[0], row[1])
        raise RuntimeError("could not find or make the inquirer's data key")

    def _cached_keys(self, stream_ids: Sequence[str], now: float
                     ) -> tuple[dict[str, SealKey], list[str]]:
        """The cached keys of ``stream_ids`` still fresh, and the streams to look up."""
        found: dict[str, SealKey] = {}
        wanted: list[str] = []
        with self._lock:
            for s in stream_ids:
                hit = self._streams.get(s)
                if hit is not None and hit[1] > now:
                    found[s] = hit[0]
                else:
                    wanted.append(s)
        return found, wanted

    def _cache_keys(self, wanted: list[str], found: dict[str, SealKey], now: float) -> None:
        with self._lock:
            for s in wanted:
                self._streams[s] = (found[s], now + self.ttl)

    def keys_for_streams(self, conn: psycopg.Connection,
                         stream_ids: Sequence[str]) -> dict[str, SealKey]:
        """Each case's inquirer key (cached ``cache_seconds``); a case without one (opened
        before the cut-over, or not a case) gets a key of its own."""
        now = time.monotonic()
        found, wanted = self._cached_keys(stream_ids, now)
        if wanted:
            self._cutover(conn)
            for s, ref, wrapped in conn.execute(_STREAM_KEYS, (wanted,)).fetchall():
                found[s] = (ref, self._unwrap(ref, wrapped))
            for s in wanted:
                if s not in found:
                    assert self.kek is not None
                    ref, key, wrapped = self._new_key()
                    conn.execute(_INSERT_KEY, (ref, None, wrapped, self.kek.kek_id))
                    conn.execute(_LINK, (s, ref))
                    found[s] = (ref, key)
            self._cache_keys(wanted, found, now)
        return found

    def seal_streams(self, conn: psycopg.Connection,
                     batches: Sequence[tuple[str, Sequence[CloudEvent]]]
                     ) -> dict[str, list[CloudEvent]]:
        """The events of each stream with their personal fields sealed (only the streams
        that have any: the others are left out of the result)."""
        sealed = self.sealed_data(conn, [evs for _, evs in batches])
        return {s: [_with(e, sealed.get(e.id, e.data)) for e in evs]
                for s, evs in batches if any(e.id in sealed for e in evs)}

    def sealed_data(self, conn: psycopg.Connection,
                    streams: Sequence[Sequence[CloudEvent]]) -> dict[UUID, dict[str, Any]]:
        """The data of each event of ``streams`` (each the events of one case: their
        subject) whose personal fields were sealed now, by event id; {} when none were.
        For a writer that copies each event once anyway (the event store, stamping its
        version): one copy of the event, not two, and no list per stream (a batch's
        objects kept alive at once are what sets the garbage collector off)."""
        wanted: list[str] = []
        for evs in streams:
            for e in evs:
                if has_personal_fields(e.type):
                    wanted.append(e.subject)
                    break
        if not wanted or not self.sealing(conn):
            return {}
        keys = self.keys_for_streams(conn, wanted)
        events = [e for evs in streams if evs and evs[0].subject in keys for e in evs]
        # every field of the batch in one pass (its nonces taken in blocks; each key's
        # cipher made once, aead_for)
        sealed = seal_many((e.type, e.id, e.data, *keys[e.subject]) for e in events)
        return {e.id: d for e, d in zip(events, sealed, strict=True) if d is not e.data}

    async def keys_for_streams_async(self, conn: psycopg.AsyncConnection[Any],
                                     stream_ids: Sequence[str]) -> dict[str, SealKey]:
        """``keys_for_streams`` on an async connection (the same cache); a key made for a
        case without one goes in with its link in one transaction of its own."""
        now = time.monotonic()
        found, wanted = self._cached_keys(stream_ids, now)
        if wanted:
            assert self.kek is not None
            if self._cut.get(_db(conn), 0.0) != _FOREVER:
                await conn.execute(_CUTOVER, (self.kek.kek_id,))
                self._cut[_db(conn)] = _FOREVER
            cur = await conn.execute(_STREAM_KEYS, (wanted,))
            for s, ref, wrapped in await cur.fetchall():
                found[s] = (ref, self._unwrap(ref, wrapped))
            for s in wanted:
                if s not in found:
                    ref, key, wrapped = self._new_key()
                    async with conn.transaction():
                        await conn.execute(_INSERT_KEY, (ref, None, wrapped, self.kek.kek_id))
                        await conn.execute(_LINK, (s, ref))
                    found[s] = (ref, key)
            self._cache_keys(wanted, found, now)
        return found

    async def seal_streams_async(self, conn: psycopg.AsyncConnection[Any],
                                 batches: Sequence[tuple[str, Sequence[CloudEvent]]]
                                 ) -> dict[str, list[CloudEvent]]:
        """``seal_streams`` on an async connection."""
        wanted = [s for s, evs in batches if any(has_personal_fields(e.type) for e in evs)]
        if not wanted or not await self.sealing_async(conn):
            return {}
        keys = await self.keys_for_streams_async(conn, wanted)
        events = [e for s, evs in batches if s in keys for e in evs]
        sealed = seal_many((e.type, e.id, e.data, *keys[e.subject]) for e in events)
        data = {e.id: d for e, d in zip(events, sealed, strict=True) if d is not e.data}
        return {s: [_with(e, data.get(e.id, e.data)) for e in evs]
                for s, evs in batches if any(e.id in data for e in evs)}

    def forget_ref(self, ref: str) -> None:
        self.decryptor.forget(ref)
        aead_for.cache_clear()  # no cipher of a destroyed key stays in this process
        with self._lock:
            for s in [s for s, (k, _) in self._streams.items() if k[0] == ref]:
                del self._streams[s]


_FOREVER = float("inf")


def _db(conn: psycopg.Connection | psycopg.AsyncConnection[Any]) -> str:
    info = conn.info
    return f"{info.host}:{info.port}/{info.dbname}"


def _personal(event: CloudEvent) -> bool:
    return has_personal_fields(event.type)


def sealed(event: CloudEvent, ref: str, key: bytes) -> CloudEvent:
    if not has_personal_fields(event.type):
        return event
    return _with(event, seal_data(event.type, event.id, event.data, ref, key))


def _with(event: CloudEvent, data: dict[str, Any]) -> CloudEvent:
    return event if data is event.data else event.with_data(data)


class _NoKeys:
    def load(self, kids: Collection[str], conn: Any) -> dict[str, bytes | None]:
        return {}


_STATE: list[PersonalData] = []
_STATE_LOCK = threading.Lock()


def personal_data() -> PersonalData:
    """The process's PersonalData, made once from the environment's settings. With
    encryption off and no KEK configured, reading sealed values still works if a
    development KEK exists in the data dir."""
    if _STATE:
        return _STATE[0]
    with _STATE_LOCK:
        if not _STATE:
            _STATE.append(_from_settings(PiiSettings()))
    return _STATE[0]


def _from_settings(s: PiiSettings) -> PersonalData:
    kek: Kek | None
    try:
        kek = kek_from_settings(s) if (s.pii_encryption or s.pii_kek or s.pii_kek_path
                                       or s.pii_kek_provider
                                       or (s.data_dir / "pii" / "kek").exists()) else None
    except PiiConfigError:
        if s.pii_encryption:
            raise
        kek = None
    return PersonalData(kek, s.pii_encryption, s.pii_key_cache_seconds)


def reset_personal_data(pd: PersonalData | None = None) -> PersonalData:
    """Replace the process's PersonalData (tests; after the settings changed)."""
    with _STATE_LOCK:
        _STATE.clear()
        _STATE.append(pd if pd is not None else _from_settings(PiiSettings()))
    return _STATE[0]


def open_event(event: Any, conn: Any) -> Any:
    """The one call readers make: ``event`` with its personal fields opened."""
    return personal_data().decryptor.open_event(event, conn)


def open_events(events: list[Any], conn: Any) -> list[Any]:
    """A case's events opened (``Decryptor.open_events``: erased keys noticed first)."""
    return personal_data().decryptor.open_events(events, conn)


def open_data(event_type: str, event_id: Any, data: dict[str, Any], conn: Any) -> dict[str, Any]:
    """The same for an event's data read on its own (a row's ``data`` and ``event_id``)."""
    return personal_data().decryptor.open_data(event_type, event_id, data, conn)


def register_pii_metrics(registry: CollectorRegistry) -> None:
    """The decryptor's figures on ``registry`` (once: a second call changes nothing)."""
    with contextlib.suppress(ValueError):  # registered already
        registry.register(_PiiCollector())


class _PiiCollector:
    def collect(self) -> Any:
        d = personal_data().decryptor
        c = CounterMetricFamily("shouwen_pii_key_lookups", "Data-key lookups by the decryptor",
                                labels=["result"])
        c.add_metric(["hit"], d.hits)
        c.add_metric(["miss"], d.misses)
        yield c
        e = CounterMetricFamily("shouwen_pii_erased_reads",
                                "Personal fields read whose key is gone (shown as erased)")
        e.add_metric([], d.erased + d.failures)
        yield e
        g = GaugeMetricFamily("shouwen_pii_encryption_enabled",
                              "1 when this process seals personal fields")
        g.add_metric([], 1.0 if personal_data().enabled else 0.0)
        yield g
