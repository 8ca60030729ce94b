"""The notification sender against a real PostgreSQL, a real SMTP server (aiosmtpd, started
here), a real local HTTP server as the SMS gateway, and the real broker for dead letters."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry
from psycopg_pool import ConnectionPool

from events import CloudEvent, new_event
from events.case import CaseReceived
from events.case_referral import CaseEscalated
from services.cases.repository import CaseRepository
from services.common.consumer import Reconnecting
from services.common.deadletter import DeadLetters, header
from services.common.embedded import free_port
from services.directory.index import DirectoryCache
from services.notification.devservers import mail_server
from services.notification.metrics import notify_metrics
from services.notification.planner import Planner
from services.notification.sender import Sender
from services.notification.session import SenderSession
from services.notification.settings import NotifySettings
from services.notification.worker import channels, progress_connection
from tests.integration.faust_app_fixture import dead_letters


def received(case_id: str, email: str | None = "zhang@example.cn", phone: str | None = None,
             language: str | None = None) -> CloudEvent:
    payload = CaseReceived(
        channel="window", receipt_number=f"R-{case_id}", unit_id="ZWFWZX",
        matter="咨询社保卡补办", inquirer_name="张三", inquirer_phone=phone, inquirer_email=email,
        inquirer_language=language, first_responder_id="ZX005", first_responder_name="李娜",
        first_responder_duty="综合受理窗口", first_responder_contact="0935-8100105")
    return new_event(payload, subject=case_id, actor="staff:ZX005")


def open_cases(url: str, events: list[CloudEvent]) -> None:
    """The cases in the store (one transaction), as intake would have opened them."""
    with ConnectionPool(url, min_size=1, max_size=1, kwargs={"autocommit": True}) as pool:
        repo = CaseRepository(pool)
        with pool.connection() as conn, conn.transaction():
            for i, event in enumerate(events):
                repo.open_case(event, f"CODE{i:06d}", conn)


class Gateway(ThreadingHTTPServer):
    """An SMS gateway answering ``status`` to every POST, keeping the Idempotency-Keys."""

    def __init__(self, status: int) -> None:
        self.status, self.keys = status, []
        super().__init__(("127.0.0.1", 0), _GatewayHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/sms"


class _GatewayHandler(BaseHTTPRequestHandler):
    server: Gateway

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.keys.append(self.headers.get("Idempotency-Key"))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Rig:
    def __init__(self, settings: Any, mail_port: int, tmp: Path, **notify: Any) -> None:
        self.url = str(settings.database_url)
        self.ns = NotifySettings(**{"smtp_port": mail_port, "retry_first_delay": 0.0,
                                    "max_attempts": 3, "sms_gateway_url": None, **notify})
        self.pool = ConnectionPool(self.url, min_size=1, max_size=2, open=True,
                                   kwargs={"autocommit": True})
        cache = DirectoryCache(self.pool, ttl=0)
        self.registry = CollectorRegistry()
        self.planner = Planner(self.ns, cache.get)
        self.dead = DeadLetters(str(settings.kafka_bootstrap_servers), settings.dead_letter_topic,
                                "notification")
        self.sender = Sender(self.ns, Reconnecting(self.url, "test"), CaseRepository(self.pool),
                             channels(self.ns), cache.get, notify_metrics(self.registry),
                             self.dead, settings.case_events_topic,
                             progress=progress_connection(self.url),
                             session=SenderSession(self.url))

    def plan(self, *events: CloudEvent) -> None:
        with self.pool.connection() as conn, conn.transaction():
            self.planner.handle_batch(conn, list(events))

    def drain(self, rounds: int = 20) -> None:
        for _ in range(rounds):
            if self.sender.run_once() == 0:
                return

    def states(self) -> dict[tuple[str, str], tuple[str, int]]:
        with psycopg.connect(self.url) as conn:
            rows = conn.execute("SELECT recipient, channel, state, attempts"
                                " FROM notification_deliveries").fetchall()
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    def case_events(self, case_id: str, kind: str) -> list[dict[str, Any]]:
        with psycopg.connect(self.url) as conn:
            rows = conn.execute("SELECT data FROM events WHERE stream_id = %s AND type = %s"
                                " ORDER BY version", (case_id, f"shouwen.case.{kind}.v1"))
            return [r[0] for r in rows]

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def close(self) -> None:
        if self.sender.session is not None:
            self.sender.session.close()
        self.dead.close()
        self.pool.close()


@pytest.fixture(name="mail")
def mail_fixture(tmp_path: Path) -> Iterator[Any]:
    controller, store = mail_server(tmp_path / "mail", free_port())
    store.port = controller.port
    yield store
    controller.stop()


@pytest.fixture(name="rig")
def rig_fixture(settings, mail, tmp_path, demo_directory) -> Iterator[Any]:
    made: list[Rig] = []

    def make(**notify: Any) -> Rig:
        made.append(Rig(settings, mail.port, tmp_path, **notify))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_receipt_is_mailed_once_and_recorded_on_the_case(settings, mail, rig):
    r = rig()
    event = received("C-mail", language="en")
    open_cases(r.url, [event])
    r.plan(event)
    r.plan(event)  # a redelivery plans nothing new
    r.drain()
    [stored] = mail.stored()
    text = stored.read_text()
    assert "Receipt R-C-mail" in text and "Message-ID: <" in text
    assert r.states() == {("inquirer", "email"): ("sent", 1)}
    [sent] = r.case_events("C-mail", "notification_sent")
    assert sent["channel"] == "email" and sent["language"] == "en" and not sent["uncertain"]
    assert "李娜" in sent["message"] and sent["source_event_id"] == str(event.id)
    assert r.sender.run_once() == 0 and mail.received == 1
    assert r.metric("shouwen_notification_outcomes_total", channel="email", outcome="sent") == 1


def test_sms_gateway_answering_500_is_retried_then_dead_lettered_and_the_rest_goes_on(
        settings, mail, rig):
    gateway = Gateway(500)
    try:
        r = rig(sms_gateway_url=gateway.url)
        by_sms, by_mail = received("C-sms", email=None, phone="13800000000"), received("C-ok")
        open_cases(r.url, [by_sms, by_mail])
        r.plan(by_sms, by_mail)
        r.drain()
    finally:
        gateway.shutdown()
    assert len(gateway.keys) == 3 and len(set(gateway.keys)) == 1  # one key, every attempt
    assert r.states()[("inquirer", "sms")] == ("failed", 3)
    [failed] = r.case_events("C-sms", "notification_failed")
    assert "HTTP 500" in failed["reason"] and failed["attempts"] == 3
    [letter] = dead_letters(settings, 1)
    assert header(letter.headers, "dlq_reason") == "notification-failed"
    assert b"13800000000" not in letter.value
    assert len(mail.stored()) == 1  # the other case's receipt went out
    assert r.metric("shouwen_notification_dead_letters_total", channel="sms") == 1


def test_a_bad_template_is_retried_then_dead_lettered(settings, mail, rig, tmp_path):
    broken = tmp_path / "templates" / "zh-CN" / "inquirer"
    broken.mkdir(parents=True)
    (broken / "receipt.txt").write_text("{{ case.receipt_numbr }}\n\n{{ event.matter }}")
    r = rig(templates_dir=tmp_path / "templates")
    event = received("C-tpl")
    open_cases(r.url, [event])
    r.plan(event)
    r.drain()
    assert r.states()[("inquirer", "email")] == ("failed", 3)
    [failed] = r.case_events("C-tpl", "notification_failed")
    assert "receipt_numbr" in failed["reason"]
    assert len(dead_letters(settings, 1)) == 1 and mail.received == 0


def test_an_unknown_recipient_is_retried_then_dead_lettered(settings, mail, rig):
    r = rig()
    event = received("C-esc")
    open_cases(r.url, [event])
    escalated = new_event(CaseEscalated.model_validate(
        {"leader": {"id": "NOBODY", "role": "principal_leader"}, "reason": "complaint"}),
        subject="C-esc", actor="service:routing")
    r.plan(escalated)
    r.drain()
    assert r.states() == {("leader:NOBODY", "in_app"): ("failed", 3),
                          ("leader:NOBODY", "sms"): ("failed", 3)}
    reasons = {e["reason"] for e in r.case_events("C-esc", "notification_failed")}
    assert all("unknown recipient" in reason for reason in reasons) and len(reasons) == 1
    assert len(dead_letters(settings, 2)) == 2


def test_an_smtp_server_that_is_down_is_retried_then_dead_lettered(settings, rig, caplog):
    r = rig(smtp_port=free_port())  # nothing listens there
    event = received("C-down")
    open_cases(r.url, [event])
    r.plan(event)
    with caplog.at_level("DEBUG", logger="services.notification"):
        r.drain()
    assert "attempt 3 of" in caplog.text and "zhang@example.cn" not in caplog.text
    assert "张三" not in caplog.text
    assert r.states() == {("inquirer", "email"): ("failed", 3)}
    assert "ConnectionRefusedError" in r.case_events("C-down", "notification_failed")[0]["reason"]
    assert len(dead_letters(settings, 1)) == 1


def test_staff_and_leaders_get_the_in_app_inbox_and_leaders_an_sms(settings, mail, rig):
    gateway = Gateway(200)
    try:
        r = rig(sms_gateway_url=gateway.url)
        event = received("C-lead")
        open_cases(r.url, [event])
        escalated = new_event(CaseEscalated.model_validate(
            {"leader": {"id": "ZX001", "role": "principal_leader"}, "reason": "complaint"}),
            subject="C-lead", actor="service:routing")
        r.plan(escalated)
        r.drain()
    finally:
        gateway.shutdown()
    assert r.states() == {("leader:ZX001", "in_app"): ("sent", 1),
                          ("leader:ZX001", "sms"): ("sent", 1)}
    with psycopg.connect(r.url) as conn:
        [(staff_id, subject)] = conn.execute("SELECT staff_id, subject FROM staff_inbox")
    assert staff_id == "ZX001" and "R-C-lead" in subject
    assert len(gateway.keys) == 1
