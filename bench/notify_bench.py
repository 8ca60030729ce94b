"""Notifications delivered per second to a local SMTP server, beside a bare SMTP client.

    setup     a fresh database and topic; N cases opened in the store (each inquirer with an
              e-mail address), their received events produced to the topic
    worker    ``python -m services.notification`` (the real path: faust consumer plans the
              delivery records in batched inbox transactions; the sender claims, renders,
              marks each send, sends over one kept-open SMTP connection, and marks the batch
              sent with its NotificationSent events) delivers the N receipts
    baseline  smtplib over ONE connection, in a process of its own like the worker,
              sending the same N messages (same headers, rendered beforehand) to a fresh
              server of the same kind
    rate      both measured at the SMTP server (aiosmtpd, ``MailStore``: one file per
              message), first arrival to last, so the worker's start-up and consumer-group
              join are excluded; best of ROUNDS turns each (the machine is shared)

run(pg_url, bootstrap, quick=False) -> figure rows. ``--quick``: 300 messages, one round.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool

from bench.common import figure, fresh_database
from events import CloudEvent, new_event
from events.case import CaseReceived
from events.kafka import to_kafka
from services.cases.repository import CaseRepository
from services.common import bus
from services.common.bus import ensure_topics
from services.common.embedded import free_port
from services.notification.channels import Outgoing, SmtpChannel
from services.notification.devservers import MailStore, mail_server
from services.notification.render import Renderer
from services.notification.rules import CaseFacts, plan

N, QUICK_N, ROUNDS = 2000, 300, 2
ROOT = Path(__file__).resolve().parents[1]


def received(i: int) -> CloudEvent:
    payload = CaseReceived(
        channel="online", receipt_number=f"SWB{i:08d}", unit_id="ZWFWZX", matter="咨询社保卡补办",
        inquirer_name="张三", inquirer_email=f"inquirer{i}@example.cn", first_responder_id="ZX005",
        first_responder_name="李娜", first_responder_duty="综合受理窗口",
        first_responder_contact="0935-8100105")
    return new_event(payload, subject=f"C-bench-{i:06d}", actor="staff:ZX005")


def rate(store: MailStore, n: int) -> float:
    assert store.first_at is not None and store.last_at is not None
    return (n - 1) / max(store.last_at - store.first_at, 1e-9)


def wait_for_all(store: MailStore, n: int, proc: subprocess.Popen[bytes] | None,
                 timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(store.per_id) < n:
        if time.monotonic() > deadline or (proc is not None and proc.poll() is not None):
            raise RuntimeError(f"only {len(store.per_id)} of {n} messages arrived")
        time.sleep(0.05)


def open_cases(url: str, events: list[CloudEvent]) -> list[CloudEvent]:
    """The cases opened in the store; returns their received events AS STORED (version,
    hash chain, sealed personal data), which is what the relay publishes: consumers check
    each message against the store and dead-letter one that is not exactly a stored event."""
    with ConnectionPool(url, min_size=1, max_size=1, kwargs={"autocommit": True}) as pool:
        repo = CaseRepository(pool)
        with pool.connection() as conn, conn.transaction():
            for i, event in enumerate(events):
                repo.open_case(event, f"CODE{i:06d}", conn)
        with pool.connection() as conn:
            return [repo.store.read_stream(e.subject, conn=conn)[0].event for e in events]


def produce(bootstrap: str, topic: str, events: list[CloudEvent]) -> None:
    producer = bus.producer(bootstrap)
    try:
        for event in events:
            key, value, headers = to_kafka(event)
            producer.send(topic, key=key, value=value, headers=headers)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=5)


def worker_round(pg_url: str, bootstrap: str, n: int, tmp: Path) -> float:
    events = [received(i) for i in range(n)]
    suffix = uuid.uuid4().hex[:8]
    topics = {"case_events_topic": f"bench.notify.{suffix}",
              "dead_letter_topic": f"bench.notify-dlq.{suffix}"}
    ensure_topics(bootstrap, topics.values(), partitions=6)
    with fresh_database(pg_url) as url:
        stored = open_cases(url, events)
        produce(bootstrap, topics["case_events_topic"], stored)
        controller, store = mail_server(tmp / f"worker-{suffix}", free_port())
        env = {**os.environ, "DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
               "SHOUWEN_CASE_EVENTS_TOPIC": topics["case_events_topic"],
               "SHOUWEN_DEAD_LETTER_TOPIC": topics["dead_letter_topic"],
               "SHOUWEN_DATA_DIR": str(tmp / f"data-{suffix}"), "SHOUWEN_LOG_LEVEL": "WARNING",
               "SHOUWEN_NOTIFY_SMTP_PORT": str(controller.port),
               "SHOUWEN_NOTIFY_METRICS_PORT": "0", "SHOUWEN_NOTIFY_SMS_GATEWAY_URL": ""}
        with (tmp / "worker.log").open("ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "services.notification"], cwd=ROOT,
                                    env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_all(store, n, proc, timeout=300)
        finally:
            proc.terminate()
            proc.wait(30)
            controller.stop()
        return rate(store, n)


def bare_round(n: int, tmp: Path) -> float:
    """The bare client in a process of its own, as the worker is (the server's process
    would otherwise share its interpreter lock with the client)."""
    controller, store = mail_server(tmp / f"bare-{uuid.uuid4().hex[:8]}", free_port())
    try:
        subprocess.run([sys.executable, "-m", "bench.notify_bench", "bare", str(controller.port),
                        str(n)], cwd=ROOT, check=True, timeout=300)
        wait_for_all(store, n, None, timeout=60)
    finally:
        controller.stop()
    return rate(store, n)


def bare_client(port: int, n: int) -> None:
    """The same messages, rendered beforehand, through smtplib over one connection."""
    renderer = Renderer()
    outgoing = []
    for i in range(n):
        event = received(i)
        [intent] = plan(event.type, event.data, CaseFacts.from_received(event.subject,
                                                                        event.data))
        text = renderer.render(intent.template, intent.language,
                               {**intent.context, "recipient": {"name": "张三", "id": None}})
        outgoing.append(Outgoing(f"{event.id}/inquirer/email", str(intent.address),
                                 text.subject, text.body))
    client = SmtpChannel("127.0.0.1", port, "shouwen@localhost")
    try:
        for out in outgoing:
            client.send(out)
    finally:
        client.close()


def run(pg_url: str, bootstrap: str, quick: bool = False) -> list[dict[str, Any]]:
    n, times = (QUICK_N, 1) if quick else (N, ROUNDS)
    bare, worker = [], []
    with tempfile.TemporaryDirectory(prefix="shouwen-notify-bench-") as tmp:
        for _ in range(times):
            bare.append(bare_round(n, Path(tmp)))
            worker.append(worker_round(pg_url, bootstrap, n, Path(tmp)))
    best = f"best of {times}" if times > 1 else "1 round"
    return [
        {**figure(f"bare smtplib, one connection ({n} messages), {best}", max(bare), "msgs/s"),
         "runs": bare},
        {**figure(f"notifications delivered by the worker to SMTP ({n}), {best}", max(worker),
                  "msgs/s", baseline=max(bare), goal_ratio=0.5), "runs": worker},
    ]


if __name__ == "__main__" and sys.argv[1:2] == ["bare"]:
    bare_client(int(sys.argv[2]), int(sys.argv[3]))
elif __name__ == "__main__":
    from bench.__main__ import broker
    from bench.common import postgres, print_table

    with postgres() as admin, broker() as servers:
        print_table(run(admin, servers, quick="--quick" in sys.argv))
