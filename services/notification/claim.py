"""Claiming a batch of due delivery records: one transaction, committed BEFORE any send.

    due records (FOR UPDATE SKIP LOCKED: several senders never take the same one)
      │ address: the inquirer's from the record; staff/leader's from the directory
      │          (unknown there: claimed anyway, with the problem, so the attempt fails,
      │          is retried and finally dead-lettered)
      │ limits.admit: per-recipient rate, daily cap per channel ─▶ deferred (no attempt)
      ▼
    'sending', attempts+1, lease, claimed_by = the claimer (its session's id); found
    'sending' already = resumed: its claimer's session is gone, or its lease ran out:
      delivered_at set            the channel took it: not sent again, only marked
      started_at set, not delivered   the one in flight: sent again; e-mail has no
                                  idempotency key, so it is flagged ``uncertain``
      neither                     never left: sent as if nothing happened
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import psycopg

from events.notification import NotifyChannel, RecipientKind
from services.directory.index import DirectoryIndex
from services.notification import store
from services.notification.limits import Limits, Usage, admit, local_day
from services.notification.settings import NotifySettings
from services.notification.store import Record


@dataclass(frozen=True)
class Claimed:
    record: Record  # as it now stands in the table (attempts, address, uncertain)
    recipient_name: str | None
    problem: str | None  # why it cannot be sent (the attempt fails)
    resumed: bool  # was 'sending': its sender died (or hung) mid-send
    delivered: bool = False  # ... after the channel took it: mark it, do not send again
    digest: tuple[Record, ...] = ()  # a leader's SMS digest: every record it tells of
    covered_by: str | None = None  # told in the digest sent as this record (its key)


@dataclass(frozen=True)
class Batch:
    claimed: list[Claimed]
    deferred: list[Record]


Directory = Callable[[], DirectoryIndex | None]


def resolve(r: Record, directory: DirectoryIndex | None, s: NotifySettings
            ) -> tuple[str | None, str | None, str | None]:
    """(address, recipient name, problem) of a record."""
    if r.recipient_kind is RecipientKind.inquirer:
        name = r.context.get("case", {}).get("inquirer_name")
        return r.address, name, None if r.address else "no address for the inquirer"
    person = directory.person(r.recipient_id or "") if directory else None
    if person is None:
        return None, None, f"unknown recipient {r.recipient}: not in the directory in force"
    address: str | None = None
    if r.channel is NotifyChannel.email and s.staff_email_domain:
        address = f"{person.staff.id}@{s.staff_email_domain}"
    elif r.channel is NotifyChannel.sms:
        address = person.staff.contact
    elif r.channel is NotifyChannel.webhook:
        address = s.webhook_url
    missing = r.channel is not NotifyChannel.in_app and not address
    return address, person.staff.name, f"no {r.channel.value} address" if missing else None


def limits_of(s: NotifySettings) -> Limits:
    return Limits(s.rate_per_recipient_per_hour, {
        NotifyChannel.email: s.daily_cap_email, NotifyChannel.sms: s.daily_cap_sms,
        NotifyChannel.webhook: s.daily_cap_webhook})


def claim(conn: psycopg.Connection, s: NotifySettings, directory: Directory,
          claimer: int | None = None) -> Batch:
    """Inside the caller's transaction: lock, resolve, admit, mark 'sending' by ``claimer``
    (a SenderSession's id, the session ``conn`` belongs to; None: only the lease protects
    the claim)."""
    rows = store.due(conn, s.batch_size)
    if not rows:
        return Batch([], [])
    rows += store.pending_for(conn, sorted({r.recipient for r in rows if _digested(r)}),
                              NotifyChannel.sms, {r.key for r in rows}, s.digest_max)
    groups = _digests(rows)
    index = directory() if any(r.recipient_id for r in rows) else None
    now = datetime.now(UTC)
    day = local_day(now)
    resolved = [(r, *resolve(r, index, s)) for r in rows]
    recent = store.recent_sends(conn, sorted({(r.channel.value, a) for r, a, _, _ in resolved
                                              if a and r.channel is not NotifyChannel.in_app}))
    today = Counter(store.daily_usage(conn, day))
    in_batch: Counter[tuple[str, str]] = Counter()
    claimed, deferred, until = [], [], []
    for r, address, name, problem in resolved:
        members = groups.get(r.key)
        if members is None and _digested(r) and r.recipient in _carried(groups):
            continue  # told in its leader's digest (below)
        pair = (r.channel.value, address or "")
        count, oldest = recent.get(pair, (0, None))
        usage = Usage(count + in_batch[pair], oldest, today[r.channel.value])
        later = admit(r.channel, usage, limits_of(s), now) if problem is None else None
        if later is not None:
            deferred.append(r)
            until.append(later)
            continue
        in_batch[pair] += 1
        today[r.channel.value] += 1
        resumed = r.state == "sending"
        delivered = r.delivered_at is not None  # also pending again, its outcome unrecorded
        in_flight = resumed and r.started_at is not None and not delivered
        uncertain = r.uncertain or (in_flight and r.channel is NotifyChannel.email)
        claimed.append(Claimed(replace(r, attempts=r.attempts + 1, address=address,
                                       uncertain=uncertain, state="sending"),
                               name, problem, resumed, delivered, tuple(members or ())))
    claimed += _covered(claimed, groups)
    deferred, until = _defer_members(deferred, until, groups)
    store.mark_sending(conn, [c.record for c in claimed], s.lease_seconds, claimer)
    store.defer(conn, deferred, until)
    store.count_sends(conn, day, Counter(c.record.channel.value for c in claimed
                                         if c.record.channel is not NotifyChannel.in_app
                                         and c.covered_by is None))
    return Batch(claimed, deferred)


# -- a leader's SMS digest -----------------------------------------------------------------
# Escalations and approvals reach a leader by SMS, at most rate_per_recipient_per_hour an
# hour. Held back one by one, they piled up (909 in a soak). Instead: every pending SMS to
# one leader goes out as ONE message (leader/digest: how many, and which cases), sent as
# the earliest of them and counted once against the limit; each record is finished with
# that message (NotificationSent on its own case). One record alone is sent as itself.

def _digested(r: Record) -> bool:
    return r.recipient_kind is RecipientKind.leader and r.channel is NotifyChannel.sms


def _digests(rows: list[Record]) -> dict[str, list[Record]]:
    """carrier key -> every record of its leader's digest (the carrier first); only for
    leaders with two or more pending SMS."""
    by_leader: dict[str, list[Record]] = {}
    for r in rows:
        if _digested(r):
            by_leader.setdefault(r.recipient, []).append(r)
    return {members[0].key: members for members in by_leader.values() if len(members) > 1}


def _carried(groups: dict[str, list[Record]]) -> set[str]:
    return {members[0].recipient for members in groups.values()}


def _covered(claimed: list[Claimed], groups: dict[str, list[Record]]) -> list[Claimed]:
    out = []
    for carrier in [c for c in claimed if c.record.key in groups]:
        for r in groups[carrier.record.key][1:]:
            out.append(Claimed(replace(r, attempts=r.attempts + 1,
                                       address=carrier.record.address, state="sending"),
                               carrier.recipient_name, carrier.problem, r.state == "sending",
                               r.delivered_at is not None, covered_by=carrier.record.key))
    return out


def _defer_members(deferred: list[Record], until: list[datetime],
                   groups: dict[str, list[Record]]) -> tuple[list[Record], list[datetime]]:
    """A deferred carrier's digest waits with it (each member until the same time)."""
    extra_r, extra_t = [], []
    for r, when in zip(deferred, until, strict=True):
        for member in groups.get(r.key, [])[1:]:
            extra_r.append(member)
            extra_t.append(when)
    return deferred + extra_r, until + extra_t
