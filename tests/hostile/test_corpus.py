"""The hostile corpus through the real apps (in-process, real PostgreSQL): every operation
of the intake and ledger OpenAPI documents (Open311 included), the console and dashboard
forms and pages. Each probe must get a 4xx problem document when its input can only be
refused, never a 5xx; the store is unchanged afterwards and the service still answers.

The figures (probes run, 5xx) are printed: ``pytest tests/hostile -s``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.hostile.corpus import PATH_VALUES, QUERY_VALUES, Probe, form_probes, probes

STAFF, SUPERVISOR, LEADER = "ZX005", "ZX011", "ZX001"
WALK_IN = {"channel": "visit", "matter": "想办理社会保障卡", "inquirer_name": "王小明",
           "inquirer_phone": "13912345678", "inquirer_address": "示范市和平路12号"}
PROBLEM = "application/problem+json"
JSON = {"accept": "application/json"}  # the console and dashboard answer browsers with pages
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


_CONNECTIONS: dict[str, psycopg.Connection] = {}


def count(url: str) -> int:
    """Events and audit rows: what a request may write (one connection per database)."""
    conn = _CONNECTIONS.get(url)
    if conn is None or conn.closed:
        conn = _CONNECTIONS[url] = psycopg.connect(url, autocommit=True)
    row = conn.execute("SELECT (SELECT count(*) FROM events)"
                       " + (SELECT count(*) FROM access_audit)").fetchone()
    return int(row[0]) if row else 0


@pytest.fixture(autouse=True)
def _close_connections():
    yield
    while _CONNECTIONS:
        _CONNECTIONS.popitem()[1].close()


def newest(url: str) -> Any:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT type, actor, data FROM events ORDER BY position DESC"
                            " LIMIT 1").fetchone()


class Tally:
    def __init__(self, url: str) -> None:
        self.url, self.run, self.server_errors = url, 0, 0
        self.failures: list[str] = []

    def send(self, client: TestClient, probe: Probe, headers: dict[str, str],
             *, problem_required: bool = True) -> None:
        self.run += 1
        url = probe.path + (f"?{probe.query}" if probe.query else "")
        hdrs = {**headers, **probe.headers}
        if probe.body is not None:
            hdrs["content-type"] = probe.content_type
        before = count(self.url) if probe.must_refuse else 0
        r = client.request(probe.method, url, content=probe.body, headers=hdrs)
        where = f"{probe.method} {probe.path[:80]} [{probe.what}] -> {r.status_code}"
        if probe.must_refuse and count(self.url) != before:
            self.failures.append(f"{where}: wrote {newest(self.url)}")
        if r.status_code >= 500:
            self.server_errors += 1
            self.failures.append(f"{where}: {r.text[:200]}")
        elif probe.must_refuse and not 400 <= r.status_code < 500:
            self.failures.append(f"{where}: accepted")
        elif r.status_code >= 400 and problem_required:
            if not r.headers.get("content-type", "").startswith(PROBLEM):
                self.failures.append(f"{where}: not a problem document "
                                     f"({r.headers.get('content-type')})")
            elif not {"type", "title", "status", "detail"} <= set(r.json()):
                self.failures.append(f"{where}: problem members missing")
            elif len(r.content) > 16_384:
                self.failures.append(f"{where}: the answer echoes the input "
                                     f"({len(r.content)} bytes)")

    def sweep(self, client: TestClient, items: Iterable[Probe], headers: dict[str, str],
              **kwargs: Any) -> None:
        for probe in items:
            self.send(client, probe, headers, **kwargs)

    def report(self, name: str) -> None:
        print(f"\nhostile corpus, {name}: {self.run} probes, {self.server_errors} 5xx, "
              f"{len(self.failures)} failures")
        assert not self.failures, "\n".join(self.failures[:40])


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, page[:300]
    return found.group(1)


def test_every_intake_operation_open311_and_console_form_refuses_hostile_input(
        intake_app: TestClient, token_for, db_settings) -> None:
    client, url = intake_app, str(db_settings.database_url)
    r = client.post("/v1/cases", json=WALK_IN, headers=token_for(STAFF))
    assert r.status_code == 201, r.text
    case_id, receipt = r.json()["case_id"], r.json()["receipt_number"]
    fills = {"case_id": case_id, "procedure_id": "AP-" + "0" * 32, "service_code": "RSJ-SBK-01",
             "service_request_id": receipt, "kind": "units", "subject_id": "ZWFWZX"}
    before, tally = count(url), Tally(url)

    doc = client.get("/openapi.json").json()
    tally.sweep(client, probes(doc, lambda n: fills[n]), token_for(SUPERVISOR))
    tally.sweep(client, probes(doc, lambda n: fills[n]), token_for(STAFF))

    # the console: signed in by its own form, then every form and page
    page = client.get("/console/sign-in")
    signed = client.post("/console/sign-in", data={"csrf": csrf_of(page.text),
                                                   "staff_id": STAFF, "next": ""})
    assert signed.status_code in (200, 303), signed.text
    csrf = csrf_of(client.get("/console/register").text)
    forms = [("/console/register", ["channel", "matter", "inquirer_name", "inquirer_phone",
                                    "inquirer_address"]),
             (f"/console/cases/{case_id}/reply", ["answer", "expected_version"]),
             (f"/console/cases/{case_id}/extension-request", ["reason",
                                                              "proposed_due_date"]),
             ("/console/accountability/open", ["case_id", "against_staff_id", "summary"]),
             ("/console/inbox/read", ["id"])]
    for path, fields in forms:  # a client asking for JSON gets problem documents too
        tally.sweep(client, form_probes("POST", path, fields, {"csrf": csrf}), JSON)
    before = count(url)  # a valid reply with a CR LF in its answer is written, rightly
    pages = ["/console/cases/{}", "/console/accountability/{}"]
    for template in pages:
        for what, value in PATH_VALUES.items():
            tally.send(client, Probe("GET", template.format(value), f"page: {what}", True), JSON)
    for what, (value, refuse) in QUERY_VALUES.items():
        tally.send(client, Probe("GET", "/console/cases", f"query status: {what}", refuse,
                                 query=f"status={value}"), JSON)

    assert count(url) == before, f"a refused probe wrote something: {newest(url)}"
    assert client.get("/healthz").status_code == 200
    assert client.post("/v1/cases", json=WALK_IN, headers=token_for(STAFF)).status_code == 201
    tally.report("intake (API, Open311, console)")


def test_every_ledger_operation_and_dashboard_page_refuses_hostile_input(
        ledger_app: TestClient, token_for, db_settings) -> None:
    client, url = ledger_app, str(db_settings.database_url)
    fills = {"case_id": "C-" + "0" * 32}
    before, tally = count(url), Tally(url)
    doc = client.get("/openapi.json").json()
    tally.sweep(client, probes(doc, lambda n: fills[n]), token_for(LEADER))

    leader = {**token_for(LEADER), **JSON}
    for what, value in PATH_VALUES.items():
        tally.send(client, Probe("GET", f"/dashboard/cases/{value}", f"page: {what}", True),
                   leader)
    for what, (value, refuse) in QUERY_VALUES.items():
        tally.send(client, Probe("GET", "/dashboard", f"query weeks: {what}", refuse,
                                 query=f"weeks={value}"), leader)
    page = client.get("/dashboard/sign-in")
    csrf = csrf_of(page.text) if page.status_code == 200 else ""
    tally.sweep(client, form_probes("POST", "/dashboard/sign-in", ["staff_id", "next"],
                                    {"csrf": csrf}), JSON)

    assert count(url) == before, "a refused probe wrote something"
    assert client.get("/healthz").status_code == 200
    tally.report("ledger (API, dashboard)")
