"""The console shows what deadline-watch and notification did to a case: the timeline in plain
words, the deadlines in force, the ladder in My cases and in the leaders' queues.

    console (TestClient) ── ZX005 registers a walk-in with an e-mail address
    Services ── the REAL deadline-watch (build, refresh, tick on a clock moved 40 days on) and
                the REAL notification planner + sender (a local SMTP server; no SMS gateway,
                so leaders' SMS fail at once and are recorded notification_failed)
    then every page is read as a browser would: the case page, My cases, the leader queue.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from psycopg_pool import ConnectionPool

from events import new_event
from events.case import CaseReceived
from services.calendar import builtin_book
from services.calendar.store import load_packaged_if_empty
from services.cases.repository import CaseRepository
from services.common.consumer import Reconnecting
from services.common.embedded import free_port
from services.common.eventstore import EventStore
from services.deadline_watch.service import build
from services.directory.index import DirectoryCache
from services.notification.devservers import mail_server
from services.notification.metrics import notify_metrics
from services.notification.planner import Planner
from services.notification.sender import Sender
from services.notification.settings import NotifySettings
from services.notification.worker import channels, progress_connection
from tests.integration.test_console import WALK_IN_FORM, case_id_of, register_by_form, sign_in

EMAIL = "wang.xm@example.cn"
LADDER = {1: ("ZX004", "张晓燕"), 2: ("ZX002", "陈丽华"), 3: ("ZX001", "周卫东")}


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at


class Services:
    """deadline-watch and notification over this test's database, driven step by step."""

    def __init__(self, url: str, mail_port: int) -> None:
        load_packaged_if_empty(url)  # the official 2026 schedule
        self.url, self.clock = url, Clock()
        self.watch, self.watch_pool = build(url, now=self.clock)
        self.pool = ConnectionPool(url, min_size=1, max_size=2, open=True,
                                   kwargs={"autocommit": True})
        ns = NotifySettings(smtp_port=mail_port, retry_first_delay=0.0, max_attempts=1,
                            sms_gateway_url=None)
        directory = DirectoryCache(self.pool, ttl=0)
        self.planner = Planner(ns, directory.get)
        self.sender = Sender(ns, Reconnecting(url, "console-test"), CaseRepository(self.pool),
                             channels(ns), directory.get, notify_metrics(CollectorRegistry()),
                             None, progress=progress_connection(url))
        self.seen: set[Any] = set()

    def catch_up(self, case_id: str) -> None:
        """Both services consume the case's new events (as their inboxes would), deadline-watch
        fires what is due on its clock, the sender sends; until nothing new happens."""
        for _ in range(30):
            fired = 0
            while n := self.watch.tick():
                fired += n
            while self.sender.run_once():
                pass
            with self.pool.connection() as conn:
                events = [r.event for r in self.watch.repo.store.read_stream(case_id, conn=conn)]
            new = [e for e in events if e.id not in self.seen]
            if not new and not fired:
                return
            self.seen.update(e.id for e in new)
            with self.watch_pool.connection() as conn, conn.transaction():
                self.watch.refresh(conn, case_id)
            with self.pool.connection() as conn, conn.transaction():
                self.planner.handle_batch(conn, new)
        raise AssertionError("the services kept appending")

    def close(self) -> None:
        self.pool.close()
        self.watch_pool.close()


@pytest.fixture
def services(database_url: str, tmp_path: Path, demo_directory: Any) -> Iterator[Services]:
    controller, _ = mail_server(tmp_path / "mail", free_port())
    s = Services(database_url, controller.port)
    try:
        yield s
    finally:
        s.close()
        controller.stop()


def breached_case(intake: TestClient, services: Services) -> str:
    """A walk-in registered by ZX005 and left alone until the whole ladder has fired."""
    csrf = sign_in(intake, "ZX005")
    r = register_by_form(intake, csrf, {**WALK_IN_FORM, "inquirer_email": EMAIL})
    assert r.status_code == 200, r.text
    case_id = case_id_of(r.text)
    services.catch_up(case_id)  # deadline_set; the receipt e-mailed
    services.clock.at += timedelta(days=40)
    services.catch_up(case_id)  # warned, breached, three rungs; staff and leaders told
    return case_id


def forward_due(services: Services, case_id: str) -> str:
    """The forward clock's due day: 2 working days (the preset) after the day the case was
    received, by the national calendar as shipped — whatever day the test runs on."""
    received = EventStore(services.url).read_stream(case_id)[0].event.time
    return str(builtin_book().default.add_working_days(received, 2).day)


def section(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}".*?</(table|section)>', page, re.S)
    assert found, f"no #{element_id} on the page"
    return found.group(0)


def rows_of(timeline: str, step: str) -> list[str]:
    return re.findall(rf'<tr class="event event-{step}">(.*?)</tr>', timeline, re.S)


def test_the_timeline_names_deadlines_the_ladder_and_every_notification(intake, services):
    case_id = breached_case(intake, services)
    page = intake.get(f"/console/cases/{case_id}")
    assert page.status_code == 200
    timeline = section(page.text, "timeline")
    forward, reply = rows_of(timeline, "deadline_set")  # a walk-in: forward and reply
    assert "设定时限" in forward and "转交办理" in forward and "计时中" in forward
    assert f'class="due">{forward_due(services, case_id)} 24:00<' in forward  # 2 working days on
    assert "（2 个工作日 working days）" in forward and "依据 basis: Wuwei art. 6" in forward
    assert "责任人 responsible: 李娜" in forward and "答复" in reply
    warned, breached = rows_of(timeline, "deadline_warned"), rows_of(timeline, "deadline_breached")
    assert len(warned) == len(breached) == 2 and all("临期提醒" in r for r in warned)
    assert all("超过时限" in r and "系统 system (deadline-watch)" in r for r in breached)
    rungs = rows_of(timeline, "escalated")
    assert len(rungs) == 6 and all("已超时限" in r for r in rungs)  # three rungs per clock
    for step, (_, name) in LADDER.items():
        assert sum(f"第{step}级" in r and f"请示 to {name}" in r for r in rungs) == 2

    sent = rows_of(timeline, "notification_sent")
    [receipt] = [r for r in sent if "电子邮件" in r]
    assert "致 to 群众" in receipt and "w***@example.cn" in receipt and EMAIL not in timeline
    told = re.search(r'class="said told">(.*?)</span>', receipt, re.S)
    assert told and "李娜" in told.group(1) and "SW" in told.group(1)  # what the inquirer read
    in_app = [r for r in sent if "站内消息" in r]
    assert any("李娜" in r and "工作人员" in r for r in in_app)  # warned and breached, in-app
    for _, name in LADDER.values():  # each rung's leader, in-app
        assert any(f"致 to 领导 <small lang=\"en\">leader</small> {name}" in r for r in in_app)
    failed = rows_of(timeline, "notification_failed")
    assert len(failed) == 6 and all("短信" in r and "未送达" in r and "not configured" in r
                                    for r in failed)
    assert "093****0001" in timeline and "0935-8100001" not in timeline  # 周卫东's phone


def test_the_case_page_shows_the_deadlines_in_force_and_marks_the_breached_one(intake, services):
    csrf = sign_in(intake, "ZX005")
    case_id = case_id_of(register_by_form(intake, csrf).text)
    services.catch_up(case_id)
    page = intake.get(f"/console/cases/{case_id}").text
    [row] = re.findall(r'<tr class="deadline deadline-forward">(.*?)</tr>', section(
        page, "deadlines"), re.S)
    assert f"{forward_due(services, case_id)} 24:00" in row
    assert "计时中" in row and "已超期" not in row
    assert "李娜" in row

    services.clock.at += timedelta(days=40)
    services.catch_up(case_id)
    page = intake.get(f"/console/cases/{case_id}").text
    assert '<tr class="deadline deadline-forward overdue">' in page
    [row] = re.findall(r'deadline-forward overdue">(.*?)</tr>', page, re.S)
    assert "已超时" in row and "已超期" in row


def test_my_cases_shows_the_deadline_and_how_far_up_the_ladder_it_went(intake, services):
    case_id = breached_case(intake, services)
    page = intake.get("/console/cases").text
    row = re.search(rf'<tr class="([^"]*)">\s*<td><a href="/console/cases/{case_id}">.*?</tr>',
                    page, re.S)
    assert row, page
    assert "overdue" in row.group(1)
    assert f"转交办理 {forward_due(services, case_id)} 24:00" in row.group(0)
    assert "已超期" in row.group(0)
    assert "已逐级上报" in row.group(0) and "第3级" in row.group(0) and "周卫东" in row.group(0)


def test_each_leader_on_the_ladder_finds_the_case_in_their_queue(intake, services, database_url):
    case_id = breached_case(intake, services)
    for step, (leader, _) in LADDER.items():
        intake.cookies.clear()
        sign_in(intake, leader)
        page = intake.get("/console/leader")
        assert page.status_code == 200
        escalations = section(page.text, "escalations")
        assert f'href="/console/cases/{case_id}"' in escalations, leader
        assert f"第{step}级" in escalations and "已超时限" in escalations
        assert "系统 system (deadline-watch)" in escalations
        assert "转交办理" in escalations and "已超期" in escalations
    intake.cookies.clear()
    sign_in(intake, "ZX009")  # a window clerk of another section: no queue at all
    assert intake.get("/console/leader").status_code == 403
    with psycopg.connect(database_url) as conn:
        [(escalated_to,)] = conn.execute("SELECT escalated_to FROM case_index"
                                         " WHERE case_id = %s", (case_id,))
    assert set(escalated_to) == {leader for leader, _ in LADDER.values()}


def test_a_deadline_in_a_year_without_an_official_schedule_is_shown_provisional(
        intake, services):
    """A phone call taken late in 2027 (no 2027 schedule loaded): its forward deadline is
    computed by rule only, and the console says so wherever it shows it."""
    at = datetime(2027, 12, 29, 2, 0, tzinfo=UTC)
    call = new_event(CaseReceived(
        channel="phone", receipt_number="SW20271229000001", unit_id="ZWFWZX",
        matter="来电询问养老保险关系转移", inquirer_name="陈大伟", inquirer_phone="0935-8123456",
        first_responder_id="ZX005", first_responder_name="李娜", first_responder_duty="综合受理",
        first_responder_contact="0935-8100105"), subject="C-2027", actor="staff:ZX005", time=at)
    with services.pool.connection() as conn, conn.transaction():
        CaseRepository(services.pool).open_case(call, "CODE000001", conn)
    services.clock.at = at
    services.catch_up("C-2027")
    sign_in(intake, "ZX005")
    page = intake.get("/console/cases/C-2027").text
    [set_] = rows_of(section(page, "timeline"), "deadline_set")
    assert "临时（官方日历未载入）" in set_ and "provisional" in set_
    [row] = re.findall(r'<tr class="deadline deadline-forward">(.*?)</tr>',
                       section(page, "deadlines"), re.S)
    assert "临时" in row
    listing = intake.get("/console/cases").text
    assert re.search(r"转交办理 \d{4}-\d\d-\d\d 24:00 <strong class=\"provisional\">", listing)
