"""The notification sender against faults (real PostgreSQL, SMTP server, broker): a
delivery whose outcome cannot be recorded (its case is not in the store) fails alone,
honours the attempt limit, is dead-lettered with its reason and never sent twice; the
others of its round go out and are recorded. A deadlock between senders finishes the same
round again at once."""

from __future__ import annotations

import psycopg
import pytest

from services.common.deadletter import header
from tests.integration.faust_app_fixture import dead_letters
from tests.integration.test_notification_sender import (  # noqa: F401 (fixtures)
    mail_fixture,
    open_cases,
    received,
    rig_fixture,
)

pytestmark = pytest.mark.fault


def test_one_unrecordable_delivery_fails_alone_and_is_dead_lettered_at_its_limit(
        settings, mail, rig):
    r = rig()  # max_attempts 3, retries at once
    good = [received("C-good1", email="a@example.cn"), received("C-good2", email="b@example.cn")]
    ghost = received("C-ghost", email="ghost@example.cn")  # never opened: not in the store
    open_cases(r.url, good)
    r.plan(good[0], ghost, good[1])

    r.drain()

    assert {c: r.case_events(c, "notification_sent") != [] for c in ("C-good1", "C-good2")} \
        == {"C-good1": True, "C-good2": True}
    with psycopg.connect(r.url) as conn:
        row = conn.execute("SELECT state, attempts, last_error FROM notification_deliveries"
                           " WHERE case_id = 'C-ghost'").fetchone()
        kept = conn.execute("SELECT consumer, reason, subject FROM dead_letters").fetchall()
    assert row is not None and row[:2] == ("failed", 3)  # the limit, not 12 of 5
    assert "could not be recorded" in row[2]
    assert mail.received == 3  # the ghost's message went out once, never again
    assert kept == [("notification-sender", "notification-unrecordable", None)]
    (letter,) = dead_letters(settings, 1)
    assert header(letter.headers, "dlq_reason") == "notification-unrecordable"
    assert letter.key == b"C-ghost"
