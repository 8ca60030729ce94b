"""Takeover between notification senders (real PostgreSQL, SMTP server and broker): a slow
living sender keeps its records however long its sends take; a dead one's (its session's
connection closed) are taken over at once, with the default long lease; a sender hung past
its lease loses the records it has not started, and does not send them when it wakes up.

    sender A ── claims, sends slowly / dies / hangs
    sender B ── polls meanwhile (run_once), as the other threads and workers do
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from events.notification import NotifyChannel
from services.notification import claim
from services.notification.channels import Channel, Outgoing
from services.notification.progress import Marks
from services.notification.session import SenderSession
from tests.integration.test_notification_sender import (  # noqa: F401 (fixtures)
    Rig,
    mail_fixture,
    open_cases,
    received,
    rig_fixture,
)
from tests.waits import wait_until

OLD_E2E_LEASE = 2.0  # what the kill -9 test needed for a quick takeover before


class Slow:
    """A channel whose every send waits ``delay`` seconds (or until ``release``) first."""

    def __init__(self, inner: Channel, delay: float = 0.0) -> None:
        self.inner, self.delay = inner, delay
        self.release = threading.Event()
        self.waiting = threading.Event()
        if delay:
            self.release.set()

    def send(self, out: Outgoing) -> str | None:
        self.waiting.set()
        self.release.wait(60)
        time.sleep(self.delay)
        return self.inner.send(out)

    def close(self) -> None:
        self.inner.close()


def cases(r: Rig, n: int, prefix: str) -> list[str]:
    events = [received(f"C-{prefix}{i}", email=f"{prefix}{i}@example.cn") for i in range(n)]
    open_cases(r.url, events)
    r.plan(*events)
    return [e.subject for e in events if e.subject]


def flags(r: Rig, case_ids: list[str]) -> dict[str, list[bool]]:
    return {c: [e["uncertain"] for e in r.case_events(c, "notification_sent")] for c in case_ids}


def leases_over(url: str) -> bool:
    """Every record still 'sending' is past its lease, by the database's clock (the one the
    claim compares with)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM notification_deliveries"
                           " WHERE state = 'sending' AND next_attempt_at > now()").fetchone()
    return row is not None and row[0] == 0


def in_background(fn: Any) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


def test_a_slow_living_sender_is_never_taken_over(settings, mail, rig):
    a, b = rig(), rig()
    slow = Slow(a.sender.channels[NotifyChannel.email], delay=OLD_E2E_LEASE + 0.4)
    a.sender.channels[NotifyChannel.email] = slow
    ids = cases(a, 2, "slow")
    started = time.monotonic()
    worker = in_background(a.sender.run_once)
    slow.waiting.wait(10)
    polls = []
    while worker.is_alive():
        polls.append(b.sender.run_once())
        time.sleep(0.05)
    assert len(polls) > 20 and set(polls) == {0}  # B never claimed A's records
    assert time.monotonic() - started > 2 * OLD_E2E_LEASE  # longer than the lease would have been
    assert mail.received == 2 and mail.duplicates == 0
    assert flags(a, ids) == {ids[0]: [False], ids[1]: [False]}
    assert b.metric("shouwen_notification_resumed_total", channel="email") == 0


def test_a_dead_senders_records_are_taken_over_at_once_not_after_the_lease(settings, mail, rig):
    b = rig()
    assert b.ns.lease_seconds >= 60  # the default: a lease is not what lets them go
    ids = cases(b, 3, "dead")
    dying = SenderSession(b.url)
    with dying() as conn, conn.transaction():
        claimed = claim.claim(conn, b.ns, lambda: None, dying.id).claimed
    first = next(c.record for c in claimed if c.record.case_id == ids[0])
    marks = Marks(b.pool.connection, b.ns.lease_seconds)
    assert marks.starting(first)
    b.sender.channels[NotifyChannel.email].send(Outgoing(first.key, str(first.address), "s", "b"))
    assert b.sender.run_once() == 0  # alive (its session holds its lock): nothing to take
    dying.close()  # as a kill -9 closes the process's connections
    died = time.monotonic()
    b.drain()
    assert time.monotonic() - died < 10
    assert mail.received == 4 and len(mail.stored()) == 3 and mail.duplicates == 1
    assert flags(b, ids) == {ids[0]: [True], ids[1]: [False], ids[2]: [False]}
    assert b.metric("shouwen_notification_resumed_total", channel="email") == 3
    assert b.metric("shouwen_notification_uncertain_total", channel="email") == 1


def test_a_sender_hung_past_its_lease_loses_what_it_had_not_started(settings, mail, rig):
    a, b = rig(lease_seconds=1.0), rig(lease_seconds=1.0)
    hung = Slow(a.sender.channels[NotifyChannel.email])
    a.sender.channels[NotifyChannel.email] = hung
    ids = cases(a, 3, "hung")
    worker = in_background(a.sender.run_once)
    assert hung.waiting.wait(10)  # A started its first message and hangs in the send
    assert b.sender.run_once() == 0  # within the lease, connected: still A's
    wait_until(lambda: leases_over(b.url), what="A's leases to run out")
    b.drain()  # past the lease: the last resort
    hung.release.set()  # A wakes up: sends its first, finds the others taken: does not send
    worker.join(30)
    assert not worker.is_alive()
    assert mail.received == 4 and len(mail.stored()) == 3 and mail.duplicates == 1
    sent = flags(a, ids)
    assert sorted(sent.values()) == [[False], [False], [True]]  # the one in flight, flagged
    assert b.metric("shouwen_notification_uncertain_total", channel="email") == 1
    # A's attempts: the one it had started went out (the repeat); the two others it never sent
    assert a.metric("shouwen_notification_outcomes_total", channel="email", outcome="sent") == 1
    assert b.metric("shouwen_notification_outcomes_total", channel="email", outcome="sent") == 3
