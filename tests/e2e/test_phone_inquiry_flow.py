"""A phone inquiry from first call to rating, over HTTP and the bus, with every service a
real process: intake (uvicorn), the relay and routing, on a real PostgreSQL and broker.

received -> classified -> referred (routing) -> handoff accepted -> replied -> completed ->
result delivered (the handler) -> rated (the inquirer): each step one event on the topic,
in order, naming the right actor.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest

from events.kafka import from_kafka
from services.common import embedded
from services.common.auth import issue_token
from services.common.bus import assigned_consumer
from services.common.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
SHOUWEN = str(Path(sys.executable).parent / "shouwen")


class Http:
    def __init__(self, base: str) -> None:
        self.base = base

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()!r}") from None


@pytest.fixture
def stack(env_for, demo_directory, tmp_path):
    """intake, relay and routing as processes sharing this test's database and topics."""
    env = {**env_for, "SHOUWEN_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    settings = Settings(data_dir=tmp_path / "data")
    issue_token(settings, "ZX005")  # creates the development signing key before the server
    port = embedded.free_port()
    procs = [
        subprocess.Popen([SHOUWEN, "intake", "--port", str(port)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([SHOUWEN, "relay"], env={**env, "SHOUWEN_RELAY_METRICS_PORT": "0"},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([SHOUWEN, "routing"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    http = Http(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(http.base + "/readyz", timeout=2):
                break
        except OSError:
            assert time.monotonic() < deadline, "intake did not become ready"
            time.sleep(0.3)
    try:
        yield http, settings
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def wait_for_event(url: str, case_id: str, event_type: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT data, actor FROM events WHERE stream_id = %s AND type = %s",
                (case_id, event_type),
            ).fetchone()
        if row:
            return {"data": row[0], "actor": row[1]}
        time.sleep(0.3)
    raise AssertionError(f"{event_type} never appeared on {case_id}")


def topic_events(settings: Settings, bootstrap: str, case_id: str, count: int) -> list:
    consumer = assigned_consumer(bootstrap, settings.case_events_topic)
    found: list = []
    deadline = time.monotonic() + 60
    try:
        while len(found) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                found += [from_kafka(r.value, r.headers) for r in records
                          if r.key == case_id.encode()]
    finally:
        consumer.close()
    return found


def test_a_phone_inquiry_goes_from_first_call_to_rating(stack, settings, database_url):
    http, dev = stack
    clerk = issue_token(dev, "ZX005")
    receipt = http.call("POST", "/v1/cases", {
        "channel": "phone", "matter": "我的社保卡丢了，想挂失并补办社会保障卡",
        "inquirer_name": "陈小明", "inquirer_phone": "13912345678",
    }, clerk)
    case_id = receipt["case_id"]
    assert receipt["first_responder_name"] and receipt["first_responder_contact"]

    referred = wait_for_event(database_url, case_id, "shouwen.case.referred.v1")
    assert referred["actor"] == "service:routing"
    handler_id = referred["data"]["referral"]["handler"]["id"]
    handler = issue_token(dev, handler_id)

    http.call("POST", f"/v1/cases/{case_id}/accept-handoff", {}, handler)
    http.call("POST", f"/v1/cases/{case_id}/reply", {
        "answer": "已为您办理挂失，新卡将在5个工作日内制好，届时短信通知您领取。"}, handler)
    http.call("POST", f"/v1/cases/{case_id}/complete", {
        "outcome": "resolved", "summary": "挂失并补办社保卡"}, handler)
    http.call("POST", f"/v1/cases/{case_id}/deliver", {
        "method": "phone", "recipient_name": "陈小明"}, handler)
    http.call("POST", "/v1/public/rating", {
        "receipt_number": receipt["receipt_number"], "access_code": receipt["access_code"],
        "level": "满意", "comment": "办得很快"})

    events = topic_events(settings, str(settings.kafka_bootstrap_servers), case_id, 8)
    steps = [(e.type.split(".")[2], e.actor) for e in events]
    assert steps == [
        ("received", "staff:ZX005"),
        ("classified", "service:routing"),
        ("referred", "service:routing"),
        ("handoff_accepted", f"staff:{handler_id}"),
        ("replied", f"staff:{handler_id}"),
        ("completed", f"staff:{handler_id}"),
        ("result_delivered", f"staff:{handler_id}"),
        ("rated", f"inquirer:{receipt['receipt_number']}"),
    ]
    assert [e.sequence for e in events] == list(range(1, 9))
    received_id = events[0].id
    assert events[1].causationid == received_id  # routing's decisions name their cause
    assert all(e.correlationid == received_id for e in events)

