"""Crash recovery and rate limits of the notification sender (real PostgreSQL and SMTP):
the one message in flight at a crash goes again, flagged; delivered ones never do (taken
over at once, with the default long lease: the dead sender's session is gone); a
recipient over the hourly limit waits."""

from __future__ import annotations

import psycopg

from services.notification import claim
from services.notification.channels import Outgoing
from services.notification.progress import Marks
from services.notification.session import SenderSession
from tests.integration.test_notification_sender import (  # noqa: F401 (fixtures)
    Rig,
    mail_fixture,
    open_cases,
    received,
    rig_fixture,
)


def crash_after(r: Rig, *marks: str) -> None:
    """Claim three receipts, send the first, and "die" after the given marks of it (the
    dying sender's session ends: its connection closes, as a killed process's would)."""
    events = [received(f"C-crash{i}", email=f"p{i}@example.cn") for i in range(3)]
    open_cases(r.url, events)
    r.plan(*events)
    dying = SenderSession(r.url)
    with dying() as conn, conn.transaction():
        claimed = claim.claim(conn, r.ns, lambda: None, dying.id).claimed
    first = min(claimed, key=lambda c: c.record.case_id).record
    progress = Marks(r.pool.connection)
    progress.starting(first)
    r.sender.channels["email"].send(Outgoing(first.key, str(first.address), "s", "b"))
    if "delivered" in marks:
        progress.delivered(first, None)
        progress.flush()
    dying.close()


def test_the_one_message_in_flight_at_a_crash_goes_again_with_its_message_id_flagged(
        settings, mail, rig):
    r = rig()  # the default lease (120 s): not what lets it go
    crash_after(r, "started")
    r.drain()
    assert mail.received == 4 and len(mail.stored()) == 3 and mail.duplicates == 1
    flags = {c: e["uncertain"] for c in ("C-crash0", "C-crash1", "C-crash2")
             for e in r.case_events(c, "notification_sent")}
    assert flags == {"C-crash0": True, "C-crash1": False, "C-crash2": False}
    assert r.metric("shouwen_notification_uncertain_total", channel="email") == 1


def test_a_message_delivered_before_a_crash_is_only_marked_not_sent_again(settings, mail, rig):
    r = rig()  # the default lease (120 s): not what lets it go
    crash_after(r, "started", "delivered")
    r.drain()
    assert mail.received == 3 and mail.duplicates == 0
    [sent] = r.case_events("C-crash0", "notification_sent")
    assert not sent["uncertain"] and "R-C-crash0" in sent["subject"]
    assert r.metric("shouwen_notification_uncertain_total", channel="email") == 0


def test_a_recipient_over_the_hourly_limit_waits_instead_of_being_flooded(settings, mail, rig):
    r = rig(rate_per_recipient_per_hour=1)
    events = [received("C-r1"), received("C-r2")]  # the same inquirer's e-mail
    open_cases(r.url, events)
    r.plan(*events)
    r.drain()
    with psycopg.connect(r.url) as conn:
        states = conn.execute("SELECT state, attempts, next_attempt_at > now() + interval '50 min'"
                              " FROM notification_deliveries ORDER BY state").fetchall()
    assert states == [("pending", 0, True), ("sent", 1, False)]  # waits, no attempt spent
    assert mail.received == 1
    assert r.metric("shouwen_notification_outcomes_total", channel="email",
                    outcome="deferred") == 1
