"""Per-message marks around each send, one statement per message, asynchronous commit.

    before sending k:  ONE UPDATE  delivered_at of k-1 (if it went out) + started_at of k
    after the round:   delivered_at of the last one
    SMS and webhook (an Idempotency-Key the gateway deduplicates on): the round's whole
    group started in ONE UPDATE before the first is sent, delivered in ONE after the last

The 'started' mark only lands while the record is still this round's (same attempts):
when another sender took it over meanwhile, ``starting`` says so and it is not sent. It
also renews the record's lease, so the lease bounds one send (a group: lease + one
transport timeout per message of it), not the whole round.

Why: a crash then leaves at most ONE e-mail started and not delivered: the single message
whose fate is unknown (SMS and webhook: the group's, sent again with the same key, which
the gateway drops; never flagged uncertain). Delivered ones are only marked after a
restart, never sent again; never-started ones are sent as if nothing happened. Holding
k-1's mark back until k starts halves the round trips; if the worker dies in between,
k-1 simply counts as the one in flight. The connection commits asynchronously (no WAL
flush wait): a killed worker cannot lose a mark the server has, a crashed database can
lose its last fraction of a second of marks (those messages then go again, e-mail flagged
uncertain).
"""

from __future__ import annotations

import logging
from typing import Any, Literal, overload

from services.common.backoff import TRANSIENT_DB
from services.common.consumer import ConnectionSource
from services.notification.store import Record

log = logging.getLogger(__name__)

_MARK = """
    UPDATE notification_deliveries d SET
        started_at = CASE WHEN p.kind = 'started' THEN now() ELSE d.started_at END,
        next_attempt_at = CASE WHEN p.kind = 'started'
                          THEN now() + make_interval(secs => %s) ELSE d.next_attempt_at END,
        delivered_at = CASE WHEN p.kind = 'delivered' THEN now() ELSE d.delivered_at END,
        provider_id = CASE WHEN p.kind = 'delivered' THEN p.provider_id ELSE d.provider_id END
    FROM (SELECT unnest(%s::text[]), unnest(%s::uuid[]), unnest(%s::text[]),
                 unnest(%s::text[]), unnest(%s::int[]), unnest(%s::text[]))
         AS p(kind, source_event_id, recipient, channel, attempts, provider_id)
    WHERE d.source_event_id = p.source_event_id AND d.recipient = p.recipient
      AND d.channel = p.channel AND d.attempts = p.attempts AND d.state = 'sending'
    RETURNING p.kind, p.source_event_id, p.recipient, p.channel
"""


class Marks:
    """The marks of one sending round (one sender thread)."""

    def __init__(self, connection: ConnectionSource, lease: float = 120.0) -> None:
        self.connection, self.lease = connection, lease
        self._held: tuple[Record, str | None] | None = None  # delivered, not yet marked

    def starting(self, r: Record) -> bool:
        """Before sending ``r``; carries the held delivered mark. False: ``r`` is no longer
        ours (taken over). If it raises or says False, do not send."""
        held, self._held = self._held, None
        rows = [("delivered", held[0], held[1])] if held else []
        try:
            return "started" in self._write([*rows, ("started", r, None)])
        except Exception:
            self._held = held
            raise

    def delivered(self, r: Record, provider_id: str | None) -> None:
        if self._held is not None:
            self.flush()
        self._held = (r, provider_id)

    def starting_all(self, records: list[Record], per_send: float) -> set[str]:
        """The 'started' marks of a group sent one after the other, in ONE statement (the
        channels with an idempotency key: SMS, webhook); carries the held delivered mark.
        The lease covers the whole group (``per_send`` seconds each). Returns the keys
        still ours; the others were taken over: do not send them."""
        if not records:
            return set()
        held, self._held = self._held, None
        rows = [("delivered", held[0], held[1])] if held else []
        try:
            started = self._write([*rows, *(("started", r, None) for r in records)],
                                  self.lease + per_send * len(records), keys=True)
        except Exception:
            self._held = held
            raise
        return {key for kind, key in started if kind == "started"}

    def delivered_all(self, sent: list[tuple[Record, str | None]]) -> None:
        """The group's delivered marks in ONE statement, after its last send."""
        if not sent:
            return
        try:
            self._write([("delivered", r, provider_id) for r, provider_id in sent])
        except TRANSIENT_DB as exc:  # they went out: the round's finish still marks them sent
            log.warning("notification: could not mark %d messages delivered (%s)", len(sent),
                        type(exc).__name__)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        try:
            self._write([("delivered", held[0], held[1])])
        except TRANSIENT_DB as exc:  # it went out: the round's finish still marks it sent
            log.warning("notification: could not mark %s delivered (%s)", held[0].key,
                        type(exc).__name__)

    @overload
    def _write(self, rows: list[tuple[str, Record, str | None]], lease: float | None = None,
               keys: Literal[False] = False) -> list[str]: ...

    @overload
    def _write(self, rows: list[tuple[str, Record, str | None]], lease: float | None,
               keys: Literal[True]) -> list[tuple[str, str]]: ...

    def _write(self, rows: list[tuple[str, Record, str | None]], lease: float | None = None,
               keys: bool = False) -> list[str] | list[tuple[str, str]]:
        params: list[Any] = [self.lease if lease is None else lease, [k for k, _, _ in rows],
                             [r.source_event_id for _, r, _ in rows],
                             [r.recipient for _, r, _ in rows],
                             [r.channel.value for _, r, _ in rows],
                             [r.attempts for _, r, _ in rows], [p for _, _, p in rows]]
        with self.connection() as conn:
            found = conn.execute(_MARK, params).fetchall()
        if keys:
            return [(row[0], f"{row[1]}/{row[2]}/{row[3]}") for row in found]
        return [row[0] for row in found]
