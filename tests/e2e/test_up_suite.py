"""The whole suite under ``shouwen up``, as an operator and a clerk meet it: one phone
inquiry through every service, seen only from outside (HTTP, files, the CLI).

    shouwen up (free ports, temp data dir) ─▶ token (CLI) ─▶ POST /v1/cases at intake
      routing      classified + referred on the case          GET intake /v1/cases/{id}
      deadline     deadline_set on the case                   GET intake /v1/cases/{id}
      ledger       the same steps, hash chain verified        GET ledger /v1/cases/{id}/history
      notification receipt SMS with the first responder       the dev SMS gateway's directory
      checkpoint   a signed checkpoint covers the case        shouwen bundle / verify-bundle
      exporter     the case's unit among open cases            GET exporter /metrics
    then SIGINT: exit 0 within the grace period, no process left, every port closed
"""

from __future__ import annotations

import json
import re
import smtplib
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from services.common import embedded
from services.stack import STOP_GRACE_SECONDS
from tests.e2e.test_up import SHOUWEN, Up, alive, wait_http, workdir  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]
T = TypeVar("T")


@pytest.fixture
def up(workdir: Path) -> Iterator[Up]:  # noqa: F811 (the fixture imported above)
    stack = Up(workdir, workdir / "data", SHOUWEN_CHECKPOINT_EVERY_SECONDS="1",
               SHOUWEN_EXPORTER_INTERVAL_SECONDS="1")
    yield stack
    stack.kill_everything()


def eventually(what: str, probe: Callable[[], T | None], up: Up, timeout: float = 45) -> T:
    """Poll ``probe`` until it returns something; bounded, with up's output on failure."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline or up.proc.poll() is not None:
            raise AssertionError(f"{what}: not seen in {timeout:.0f} s\n{up.output()}")
        time.sleep(0.3)


def call(url: str, token: str | None = None, body: Any = None) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None,
                                     method="POST" if body else "GET")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    return json.loads(text) if response.headers.get_content_type() == "application/json" else text


def shouwen(up: Up, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SHOUWEN, *args], env={**up.env, **env}, cwd=up.data_dir.parent,
                          capture_output=True, text=True, timeout=60)


def port(up: Up, name: str) -> str:
    return f"http://127.0.0.1:{up.ports[name]}"


def types_of(case: dict) -> set[str]:
    return {e["type"].split(".")[2] for e in case["events"]}


def test_one_phone_inquiry_goes_through_every_service_of_up(up: Up):
    url = up.database_url()
    intake, ledger = port(up, "SHOUWEN_INTAKE_PORT"), port(up, "SHOUWEN_LEDGER_PORT")
    exporter = port(up, "SHOUWEN_EXPORTER_PORT")
    wait_http(f"{intake}/readyz", timeout=60)
    issued = shouwen(up, "token", "--staff", "ZX005", DATABASE_URL=url)
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()

    receipt = call(f"{intake}/v1/cases", token, {
        "channel": "phone", "matter": "我的社保卡丢了，想挂失并补办社会保障卡",
        "inquirer_name": "陈小明", "inquirer_phone": "13912345678"})
    case_id = receipt["case_id"]

    def case_with(*wanted: str) -> dict | None:
        case = call(f"{intake}/v1/cases/{case_id}", token)
        return case if set(wanted) <= types_of(case) else None

    case = eventually("routing's decisions and the deadline on the case",
                      lambda: case_with("classified", "referred", "deadline_set"), up)
    by_type = {e["type"].split(".")[2]: e for e in case["events"]}
    assert by_type["referred"]["actor"] == "service:routing"
    assert by_type["deadline_set"]["actor"].startswith("service:deadline")
    responder = by_type["received"]["data"]

    def history() -> dict | None:
        seen = call(f"{ledger}/v1/cases/{case_id}/history", token)
        return seen if {"classified", "referred"} <= {s["type"].split(".")[2]
                                                      for s in seen["steps"]} else None

    replayed = eventually("the ledger's history of the case", history, up)
    assert replayed["verification"]["ok"] is True, replayed["verification"]
    assert replayed["verification"]["events_checked"] >= 3

    def receipt_sms() -> str | None:  # the receipt, not the referral notice that follows it
        for file in (up.data_dir / "sms").glob("*.json"):
            sent = json.loads(file.read_text())
            if sent["subject"] == f"【首问受理回执】{receipt['receipt_number']}":
                return str(sent["text"])
        return None

    sms = eventually("the inquirer's receipt SMS at the dev gateway", receipt_sms, up)
    for field in ("first_responder_name", "first_responder_duty", "first_responder_contact"):
        assert responder[field] and responder[field] in sms, (field, sms)

    unit = re.escape(case["unit_id"])
    open_line = re.compile(rf'^shouwen_cases_open\{{unit="{unit}"\}} ([1-9][0-9.]*)$', re.M)
    groups = ("routing", "ledger", "deadline-watch", "notification")  # the consumers at work

    def exported_figures() -> str | None:
        text = call(f"{exporter}/metrics")
        lag = [re.search(rf'shouwen_consumer_lag\{{group="{g}[^"]*"', text) for g in groups]
        return text if open_line.search(text) and all(lag) else None

    eventually("the case among the exporter's open cases, the consumers' lag",
               exported_figures, up)

    key = up.data_dir / "public.pem"
    exported = shouwen(up, "checkpoint", "export-key")
    assert exported.returncode == 0, exported.stderr
    key.write_text(exported.stdout)
    bundle_file = up.data_dir / "bundle.zip"

    def bundled() -> str | None:  # --key: no signing key, so only up's checkpointer signs
        made = shouwen(up, "bundle", case_id, "--by", "ZX005", "--key", str(key),
                       "--out", str(bundle_file), DATABASE_URL=url)
        assert made.returncode == 0, made.stderr
        return made.stdout if "not yet covered" not in made.stdout else None

    wrote = eventually("a checkpoint covering the case", bundled, up, timeout=30)
    proved = re.search(r"(\d+) event\(s\) with inclusion proofs", wrote)
    assert proved and int(proved[1]) >= 4, wrote  # received, classified, referred, deadline_set
    checked = shouwen(up, "verify-bundle", str(bundle_file), "--key", str(key))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    sealed = shouwen(up, "pii", "status", DATABASE_URL=url)  # up seals personal fields
    assert "cut-over: events after position" in sealed.stdout, sealed.stdout + sealed.stderr

    answering = {"relay": f"{port(up, 'SHOUWEN_RELAY_METRICS_PORT')}/metrics",
                 "intake": f"{intake}/healthz", "ledger": f"{ledger}/healthz",
                 "deadline-watch": f"{port(up, 'SHOUWEN_DEADLINE_METRICS_PORT')}/metrics",
                 "notification": f"{port(up, 'SHOUWEN_NOTIFY_METRICS_PORT')}/metrics",
                 "checkpoint": f"{port(up, 'SHOUWEN_CHECKPOINT_METRICS_PORT')}/metrics",
                 "exporter": f"{exporter}/metrics",
                 "routing": f"{port(up, 'SHOUWEN_ROUTING_METRICS_PORT')}/metrics",
                 "ledger-worker": f"{port(up, 'SHOUWEN_LEDGER_METRICS_PORT')}/metrics"}
    for name, endpoint in answering.items():
        assert call(endpoint), name
    counted = {"routing": r'^shouwen_routing_decisions_total\{kind="referred"\} [1-9]',
               "ledger-worker": r"^shouwen_ledger_events_projected_total [1-9]"}
    for name, line in counted.items():  # the case went through both workers
        assert re.search(line, call(answering[name]), re.M), name
    with smtplib.SMTP("127.0.0.1", up.ports["SHOUWEN_NOTIFY_MAIL_PORT"], timeout=5) as smtp:
        assert smtp.noop()[0] == 250
    with pytest.raises(urllib.error.HTTPError):  # the SMS gateway answers (it takes POST only)
        call(port(up, "SHOUWEN_NOTIFY_SMS_PORT") + "/sms")

    children = [p.pid for p in up.descendants()]
    assert len(children) >= 11  # ten services (each behind its guard) and the broker
    status, took = up.interrupt(timeout=STOP_GRACE_SECONDS + 20)
    assert status == 0, up.output()
    assert took < STOP_GRACE_SECONDS + 10, up.output()
    assert "still running after" not in up.output()  # every service stopped on SIGTERM
    assert [pid for pid in children if alive(pid)] == []
    assert [p for p in up.ports.values() if embedded.port_open("127.0.0.1", p)] == []
