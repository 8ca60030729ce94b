"""The notification sender against faults (real PostgreSQL, SMTP server, broker): a
delivery whose outcome cannot be recorded (its case is not in the store) fails alone,
honours the attempt limit, is dead-lettered with its reason and never sent twice; the
others of its round go out and are recorded. A deadlock between senders finishes the same
round again at once."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import psycopg
import pytest

from services.common.deadletter import header
from tests.faults.workers import SHOUWEN
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

    # The operator sees it, fixes the cause (the case is opened), and retries it: it is
    # recorded on the case, and not mailed a second time (the channel took it already).
    env = {**os.environ, "DATABASE_URL": r.url}
    listed = shouwen(env, "notification", "deliveries", "--stuck")
    (line,) = [x for x in listed.splitlines() if "C-ghost" in x]
    ghost_id = line.split()[0]
    assert "failed" in line and "could not be recorded" in line
    open_cases(r.url, [ghost])
    assert "pending again" in shouwen(env, "notification", "retry", ghost_id)
    r.drain()
    assert r.case_events("C-ghost", "notification_sent") and mail.received == 3
    assert "C-ghost" not in shouwen(env, "notification", "deliveries", "--stuck")
    assert shouwen(env, "notification", "retry", ghost_id, code=1) == ""  # sent: refused


def test_a_cancelled_delivery_is_never_sent(settings, mail, rig):
    r = rig()
    event = received("C-cancel", email="c@example.cn")
    open_cases(r.url, [event])
    r.plan(event)
    env = {**os.environ, "DATABASE_URL": r.url}
    (line,) = shouwen(env, "notification", "deliveries").splitlines()
    out = shouwen(env, "notification", "cancel", line.split()[0], "--reason", "wrong address",
                  "--by", "ZX001")
    assert "cancelled" in out
    r.drain()
    assert mail.received == 0 and r.case_events("C-cancel", "notification_sent") == []
    (line,) = shouwen(env, "notification", "deliveries").splitlines()
    assert "cancelled" in line and "cancelled by ZX001: wrong address" in line


def shouwen(env: dict[str, str], *args: str, code: int = 0) -> str:
    done = subprocess.run([SHOUWEN, *args], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == code, done.stderr
    return done.stdout


def test_a_deadlock_while_finishing_redoes_the_same_round_at_once(settings, mail, rig):
    """A real deadlock: another session holds case B's index row, the sender's finish
    (which marks A, then appends to A and B) waits for it; that session then asks for A's
    delivery row. PostgreSQL aborts the sender's transaction (it waited first); the round
    is finished again at once, not left 'sending' until its lease ends."""
    r = rig()
    a, b = received("C-dead-a", email="a@example.cn"), received("C-dead-b", email="b@example.cn")
    open_cases(r.url, [a, b])
    r.plan(a, b)
    other = psycopg.connect(r.url)
    try:
        other.execute("SET deadlock_timeout = '30s'")  # the sender is the one to notice
        other.execute("SELECT 1 FROM case_index WHERE case_id = 'C-dead-b' FOR UPDATE")
        done: list[int] = []
        worker = threading.Thread(target=lambda: done.append(r.sender.run_once()))
        worker.start()
        wait_until(lambda: waiting_on_lock(r.url), "the sender waiting on case B")
        other.execute("SELECT 1 FROM notification_deliveries WHERE case_id = 'C-dead-a'"
                      " FOR UPDATE")  # now each waits for the other: a deadlock
        other.commit()
        worker.join(30)
    finally:
        other.close()

    assert done == [2]
    with psycopg.connect(r.url) as conn:
        states = conn.execute("SELECT case_id, state, attempts FROM notification_deliveries"
                              " ORDER BY case_id").fetchall()
    assert states == [("C-dead-a", "sent", 1), ("C-dead-b", "sent", 1)]
    assert all(r.case_events(c, "notification_sent") for c in ("C-dead-a", "C-dead-b"))
    assert r.metric("shouwen_notification_deadlocks_total") == 1
    assert mail.received == 2


def waiting_on_lock(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname ="
                           " current_database() AND wait_event_type = 'Lock'").fetchone()
    return bool(row and row[0])


def wait_until(check, what: str, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
