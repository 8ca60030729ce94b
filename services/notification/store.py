"""Delivery records in PostgreSQL (migration 0008), keyed (source event, recipient, channel).

    pending ──claim: 'sending', attempts+1, lease, COMMIT──▶ (send, outside any transaction)
       ▲                                                         │
       └── failed attempt, backoff ◀── finish (one transaction) ─┼─▶ sent   + NotificationSent
                                                                 └─▶ failed + NotificationFailed
    'sending' whose claimer's session is gone (services.notification.session): its sender
    died between claim and mark (the uncertain window); taken over at once. 'sending' past
    its lease: its sender is hung though connected (the last resort)

Every function runs on the caller's connection, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from events import CloudEvent
from events.notification import NotifyChannel, RecipientKind
from events.personal import mask_text
from events.sealed import ERASED
from services.common.pii import open_data
from services.inapp import staff_inbox
from services.notification.rules import CaseFacts, Intent
from services.notification.session import ORPHANED

RECEIVED = "shouwen.case.received.v1"


@dataclass(frozen=True)
class Record:
    source_event_id: UUID
    recipient: str
    channel: NotifyChannel
    case_id: str
    correlation_id: UUID | None
    recipient_kind: RecipientKind
    recipient_id: str | None
    template: str
    language: str
    context: dict[str, Any]
    address: str | None
    state: str
    attempts: int
    uncertain: bool
    claimed_at: datetime | None
    provider_id: str | None
    started_at: datetime | None = None  # this attempt's send began (async commit)
    delivered_at: datetime | None = None  # ... and the channel took it

    @property
    def key(self) -> str:
        return f"{self.source_event_id}/{self.recipient}/{self.channel.value}"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def case_facts(conn: psycopg.Connection, case_ids: Sequence[str]) -> dict[str, tuple[UUID,
                                                                                     CaseFacts]]:
    """The received event of each case: its id (the correlation) and its facts."""
    rows = conn.execute(
        "SELECT stream_id, event_id, data FROM events"
        " WHERE stream_id = ANY(%s) AND version = 1 AND type = %s",
        (sorted(set(case_ids)), RECEIVED),
    )
    return {r[0]: (r[1], facts_of(conn, r[0], r[1], r[2])) for r in rows}


def facts_of(conn: psycopg.Connection, case_id: str, received_id: UUID,
             data: dict[str, Any]) -> CaseFacts:
    """A case's facts from its received event, personal fields opened (services.common.pii);
    an erased inquirer has no address: nothing is sent to them."""
    opened = open_data(RECEIVED, received_id, data, conn)
    if opened is not data:
        opened = {k: None if v == ERASED and k in _ADDRESSES else v for k, v in opened.items()}
    return CaseFacts.from_received(case_id, opened)


_ADDRESSES = ("inquirer_email", "inquirer_phone")


def record_intents(conn: psycopg.Connection, source_event_id: UUID, case_id: str,
                   correlation_id: UUID | None, intents: Sequence[Intent]) -> None:
    """Write the pending records (a redelivered event finds them there: nothing changes)."""
    record_all(conn, [(source_event_id, case_id, correlation_id, intents)])


Planned = tuple[UUID, str, UUID | None, Sequence[Intent]]  # event, case, correlation, intents


def record_all(conn: psycopg.Connection, planned: Sequence[Planned]) -> None:
    """``record_intents`` for a whole batch of events: ONE statement (rows in key order),
    its rows one JSON document (orjson; the text form of a jsonb[] array escaped every
    context again, in Python, per element)."""
    rows = sorted(({"source_event_id": event_id, "recipient": i.recipient,
                    "channel": i.channel.value, "case_id": case_id,
                    "correlation_id": correlation_id, "recipient_kind": i.recipient_kind.value,
                    "recipient_id": i.recipient_id, "template": i.template,
                    "language": i.language, "context": i.context, "address": i.address}
                   for event_id, case_id, correlation_id, intents in planned for i in intents),
                  key=lambda row: (str(row["source_event_id"]), row["recipient"],
                                   row["channel"]))
    if not rows:
        return
    conn.execute(
        "INSERT INTO notification_deliveries (source_event_id, recipient, channel, case_id,"
        " correlation_id, recipient_kind, recipient_id, template, language, context, address)"
        " SELECT source_event_id, recipient, channel, case_id, correlation_id, recipient_kind,"
        " recipient_id, template, language, context, address FROM json_to_recordset(%s::json)"
        " AS r(source_event_id uuid, recipient text, channel text, case_id text,"
        " correlation_id uuid, recipient_kind text, recipient_id text, template text,"
        " language text, context jsonb, address text)"
        " ON CONFLICT DO NOTHING", (orjson.dumps(rows).decode(),))


def due(conn: psycopg.Connection, limit: int) -> list[Record]:
    """Lock up to ``limit`` records due now: orphaned ones first, then pending ones and
    'sending' ones past the lease."""
    orphans = _select(conn, ORPHANED, limit)
    seen = {r.key for r in orphans}
    rest = _select(conn, _DUE, limit - len(orphans)) if len(orphans) < limit else []
    return orphans + [r for r in rest if r.key not in seen]


def pending_for(conn: psycopg.Connection, recipients: Sequence[str], channel: NotifyChannel,
                exclude: set[str], limit: int) -> list[Record]:
    """Lock the pending records to these recipients on this channel, due or held back by
    a limit (a leader's digest takes them all), oldest first; ``exclude``: keys in hand."""
    if not recipients:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT * FROM notification_deliveries WHERE state = 'pending'"
                    " AND channel = %s AND recipient = ANY(%s) ORDER BY created_at"
                    " LIMIT %s FOR UPDATE SKIP LOCKED",
                    (channel.value, list(recipients), limit + len(exclude)))
        return [r for r in (_record(row) for row in cur) if r.key not in exclude][:limit]


_DUE = ("SELECT * FROM notification_deliveries WHERE state IN ('pending', 'sending')"
        " AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED")


def _select(conn: psycopg.Connection, query: str, limit: int) -> list[Record]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, (limit,))
        return [_record(r) for r in cur]


def _record(r: dict[str, Any]) -> Record:
    return Record(r["source_event_id"], r["recipient"], NotifyChannel(r["channel"]),
                  r["case_id"], r["correlation_id"], RecipientKind(r["recipient_kind"]),
                  r["recipient_id"], r["template"], r["language"], r["context"], r["address"],
                  r["state"], r["attempts"], r["uncertain"], r["claimed_at"], r["provider_id"],
                  r["started_at"], r["delivered_at"])


def recent_sends(conn: psycopg.Connection, pairs: Sequence[tuple[str, str]]
                 ) -> dict[tuple[str, str], tuple[int, datetime]]:
    """(channel, address) -> sends started in the last hour, and the oldest of them."""
    if not pairs:
        return {}
    rows = conn.execute(
        "SELECT d.channel, d.address, count(*), min(d.claimed_at) FROM notification_deliveries d"
        " JOIN unnest(%s::text[], %s::text[]) AS p(channel, address)"
        " ON d.channel = p.channel AND d.address = p.address"
        " WHERE d.claimed_at > now() - interval '1 hour' GROUP BY 1, 2",
        ([c for c, _ in pairs], [a for _, a in pairs]))
    return {(r[0], r[1]): (int(r[2]), r[3]) for r in rows}


def daily_usage(conn: psycopg.Connection, day: datetime) -> dict[str, int]:
    """The day's sends per channel, row-locked until the caller commits: concurrent senders
    claim one after the other, so neither the daily cap nor a recipient's limit is overrun."""
    conn.execute("INSERT INTO notification_daily_usage (day, channel)"
                 " SELECT %s, unnest(%s::text[]) ON CONFLICT DO NOTHING",
                 (day.date(), ["email", "sms", "webhook"]))
    rows = conn.execute("SELECT channel, sends FROM notification_daily_usage WHERE day = %s"
                        " ORDER BY channel FOR UPDATE", (day.date(),))
    return {r[0]: int(r[1]) for r in rows}


def count_sends(conn: psycopg.Connection, day: datetime, by_channel: dict[str, int]) -> None:
    for channel, n in sorted(by_channel.items()):
        conn.execute(
            "INSERT INTO notification_daily_usage (day, channel, sends) VALUES (%s, %s, %s)"
            " ON CONFLICT (day, channel) DO UPDATE"
            " SET sends = notification_daily_usage.sends + EXCLUDED.sends",
            (day.date(), channel, n))


def mark_sending(conn: psycopg.Connection, records: Sequence[Record], lease: float,
                 claimer: int | None) -> None:
    _update(conn, "state = 'sending', attempts = d.attempts + 1, claimed_at = now(),"
            " next_attempt_at = now() + make_interval(secs => %s), address = p.address,"
            " uncertain = d.uncertain OR p.uncertain, claimed_by = %s",
            records, [lease, claimer], extra=("address", "uncertain"))


def defer(conn: psycopg.Connection, records: Sequence[Record], until: Sequence[datetime]) -> None:
    for r, when in zip(records, until, strict=True):
        conn.execute("UPDATE notification_deliveries SET next_attempt_at = %s"
                     " WHERE source_event_id = %s AND recipient = %s AND channel = %s",
                     (when, r.source_event_id, r.recipient, r.channel.value))


def _update(conn: psycopg.Connection, set_sql: str, records: Sequence[Record],
            params: list[Any], extra: tuple[str, ...] = ()) -> None:
    if not records:
        return
    cols = ", ".join(f"unnest(%s::{t}[])" for t in ("uuid", "text", "text", "text", "bool")[
        :3 + len(extra)])
    names = ", ".join(("source_event_id", "recipient", "channel", *extra))
    arrays: list[Any] = [[r.source_event_id for r in records], [r.recipient for r in records],
                         [r.channel.value for r in records]]
    arrays += [[getattr(r, e) for r in records] for e in extra]
    conn.execute(
        f"UPDATE notification_deliveries d SET {set_sql} FROM (SELECT {cols}) AS p({names})"
        " WHERE d.source_event_id = p.source_event_id AND d.recipient = p.recipient"
        " AND d.channel = p.channel", [*params, *arrays])


def finish(conn: psycopg.Connection, r: Record, state: str, *, provider_id: str | None = None,
           error: str | None = None, retry_in: float | None = None,
           keep_delivered: bool = False) -> bool:
    """Mark one claimed record sent / failed / pending again (``retry_in`` seconds). False
    when it is no longer ours (another sender took it over: ours looked dead or hung).
    ``keep_delivered``: pending again, but a message the channel took stays marked
    delivered (its next claim only records it, never sends it again)."""
    clear = state == "pending" and not keep_delivered
    row = conn.execute(
        "UPDATE notification_deliveries SET state = %s, provider_id = coalesce(%s, provider_id),"
        " last_error = %s, finished_at = CASE WHEN %s IN ('sent', 'failed') THEN now() END,"
        " started_at = CASE WHEN %s THEN NULL ELSE started_at END,"
        " delivered_at = CASE WHEN %s THEN NULL ELSE delivered_at END,"
        " next_attempt_at = now() + make_interval(secs => %s)"
        " WHERE source_event_id = %s AND recipient = %s AND channel = %s"
        " AND state = 'sending' AND attempts = %s RETURNING 1",
        (state, provider_id, error, state, clear, clear, retry_in or 0.0, r.source_event_id,
         r.recipient, r.channel.value, r.attempts)).fetchone()
    return row is not None


def put_in_inbox(conn: psycopg.Connection, r: Record, subject: str, body: str) -> None:
    staff_inbox.put(conn, staff_id=r.recipient_id, source_event_id=r.source_event_id,
                    recipient=r.recipient, case_id=r.case_id, subject=subject, body=body)


@dataclass(frozen=True)
class Finish:
    """One claimed record's end of round (``finish``'s arguments)."""

    record: Record
    state: str  # sent | failed | pending
    provider_id: str | None = None
    error: str | None = None
    retry_in: float | None = None
    keep_delivered: bool = False


def finish_all(conn: psycopg.Connection, todo: Sequence[Finish]) -> set[str]:
    """``finish`` for a round's records in ONE statement; returns the keys still ours (the
    others were taken over by another sender: left alone)."""
    if not todo:
        return set()
    todo = sorted(todo, key=lambda f: f.record.key)  # one lock order for every sender
    clear = [f.state == "pending" and not f.keep_delivered for f in todo]
    rows = conn.execute(
        "UPDATE notification_deliveries d SET state = p.state,"
        " provider_id = coalesce(p.provider_id, d.provider_id), last_error = p.error,"
        " finished_at = CASE WHEN p.state IN ('sent', 'failed') THEN now() END,"
        " started_at = CASE WHEN p.clear THEN NULL ELSE d.started_at END,"
        " delivered_at = CASE WHEN p.clear THEN NULL ELSE d.delivered_at END,"
        " next_attempt_at = now() + make_interval(secs => p.retry_in)"
        " FROM (SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::int[],"
        " %s::text[], %s::text[], %s::text[], %s::float8[], %s::bool[]))"
        " AS p(source_event_id, recipient, channel, attempts, state, provider_id, error,"
        " retry_in, clear)"
        " WHERE d.source_event_id = p.source_event_id AND d.recipient = p.recipient"
        " AND d.channel = p.channel AND d.state = 'sending' AND d.attempts = p.attempts"
        " RETURNING d.source_event_id, d.recipient, d.channel",
        ([f.record.source_event_id for f in todo], [f.record.recipient for f in todo],
         [f.record.channel.value for f in todo], [f.record.attempts for f in todo],
         [f.state for f in todo], [f.provider_id for f in todo], [f.error for f in todo],
         [f.retry_in or 0.0 for f in todo], clear)).fetchall()
    return {f"{r[0]}/{r[1]}/{r[2]}" for r in rows}


def put_all_in_inbox(conn: psycopg.Connection,
                     messages: Sequence[tuple[Record, str, str]]) -> None:
    """``put_in_inbox`` for many (record, subject, body): one statement."""
    staff_inbox.put_many(conn, [(r.recipient_id, r.source_event_id, r.recipient, r.case_id,
                                 subject, body) for r, subject, body in messages])


def scrub_erased_events(conn: psycopg.Connection, erased: Sequence[CloudEvent]) -> int:
    """``scrub_erased`` for the cases of these inquirer_erased events (the erasure's hook)."""
    return scrub_erased(conn, [e.subject for e in erased])


def scrub_erased(conn: psycopg.Connection, case_ids: Sequence[str]) -> int:
    """An erased inquirer's delivery records keep only a masked address and no personal
    context; those not yet sent are failed (there is no one to send them to)."""
    rows = conn.execute(
        "SELECT source_event_id, recipient, channel, address, context"
        " FROM notification_deliveries WHERE case_id = ANY(%s) AND recipient_kind = 'inquirer'"
        " FOR UPDATE", (list(case_ids),)).fetchall()
    for source_event_id, recipient, channel, address, context in rows:
        case = {k: ERASED if k.startswith("inquirer_") and v is not None else v
                for k, v in (context.get("case") or {}).items()}
        conn.execute(
            "UPDATE notification_deliveries SET address = %s, context = %s,"
            " state = CASE WHEN state IN ('pending', 'sending') THEN 'failed' ELSE state END,"
            " last_error = CASE WHEN state IN ('pending', 'sending') THEN 'inquirer erased'"
            " ELSE last_error END, finished_at = coalesce(finished_at, now())"
            " WHERE source_event_id = %s AND recipient = %s AND channel = %s",
            (mask_text(address) if address and address != ERASED else address,
             Jsonb({**context, "case": case}, dumps=_json), source_event_id, recipient, channel))
    return len(rows)
