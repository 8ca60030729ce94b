"""kill -9 the notification worker in the middle of 1,000 notifications and restart it: the
SMTP server received each message exactly once (and every repeat the worker could not rule
out was flagged uncertain and counted). The lease is the default (long): the restarted
worker takes the killed one's records over at once because its sessions are gone, and a
slow living sender thread is never taken over however loaded the machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from services.common.embedded import free_port
from services.notification.devservers import mail_server
from tests.integration.faust_app_fixture import produce
from tests.integration.test_notification_sender import open_cases, received

ROOT = Path(__file__).resolve().parents[2]
N = 1000
SENDERS = 4

pytestmark = pytest.mark.slow


def unfinished(settings: Any) -> int:
    with psycopg.connect(str(settings.database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM notification_deliveries"
                           " WHERE state IN ('pending', 'sending')").fetchone()
    return int(row[0]) if row else 0


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "services.notification"], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for(check: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}; log:\n{log.read_text()[-4000:]}")
        time.sleep(0.01)


def test_kill_9_mid_way_through_1000_notifications_each_is_received_once(
        settings, env_for, tmp_path):
    controller, mail = mail_server(tmp_path / "mail", free_port())
    events = [received(f"C-{i:04d}", email=f"inquirer{i}@example.cn") for i in range(N)]
    open_cases(str(settings.database_url), events)
    produce(settings, *events)
    env = {**env_for, "SHOUWEN_DATA_DIR": str(tmp_path / "data"),
           "SHOUWEN_NOTIFY_SMTP_PORT": str(controller.port), "SHOUWEN_NOTIFY_METRICS_PORT": "0",
           "SHOUWEN_NOTIFY_SMS_GATEWAY_URL": "",
           "SHOUWEN_NOTIFY_SENDERS": str(SENDERS)}
    log = tmp_path / "worker.log"
    worker = start(env, log)
    try:
        wait_for(lambda: mail.received >= N // 3, 120, "a third of the messages", log)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        at_kill = mail.received
        assert at_kill < N, "the worker finished before it could be killed mid-way"
        killed_at = db_now(settings)
        assert claimed_before(settings, killed_at) > 0  # the killed worker left some 'sending'
        worker = start(env, log)
        # taken over as soon as the new worker claims, far sooner than the 120 s lease
        wait_for(lambda: claimed_before(settings, killed_at) == 0, 60,
                 "the killed worker's records taken over", log)
        wait_for(lambda: len(mail.stored()) == N and sent_count(settings) == N, 100,
                 "every message", log)
        # a message is only ever (re)sent from a pending or sending record: once none is
        # left, nothing more can arrive
        wait_for(lambda: unfinished(settings) == 0, 60, "every record finished", log)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
        controller.stop()

    stored = mail.stored()
    assert len(stored) == N and len({p.name for p in stored}) == N
    with psycopg.connect(str(settings.database_url)) as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM notification_deliveries"
                                   " GROUP BY state").fetchall())
        uncertain = conn.execute(
            "SELECT count(*) FROM events WHERE type = 'shouwen.case.notification_sent.v1'"
            " AND (data->>'uncertain')::boolean").fetchone()[0]
        per_case = conn.execute(
            "SELECT count(DISTINCT stream_id), count(*) FROM events"
            " WHERE type = 'shouwen.case.notification_sent.v1'").fetchone()
    assert states == {"sent": N}
    assert per_case == (N, N)  # one NotificationSent per message, never two
    # Each Message-ID was stored once; a second arrival can only be one flagged uncertain.
    assert mail.duplicates == sum(c - 1 for c in mail.per_id.values())
    # the per-message marks leave one message in flight per sender thread, not a batch
    assert mail.duplicates <= uncertain <= SENDERS
    assert len(mail.per_id) == N


def db_now(settings) -> object:
    with psycopg.connect(str(settings.database_url)) as conn:
        return conn.execute("SELECT now()").fetchone()[0]


def claimed_before(settings, when: object) -> int:
    """Records still 'sending' under a claim made before ``when``."""
    with psycopg.connect(str(settings.database_url)) as conn:
        return int(conn.execute("SELECT count(*) FROM notification_deliveries WHERE"
                                " state = 'sending' AND claimed_at < %s", (when,)).fetchone()[0])


def sent_count(settings) -> int:
    with psycopg.connect(str(settings.database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM notification_deliveries WHERE state = 'sent'")
        return int(row.fetchone()[0])
