"""Rate limits that no header defeats: X-Forwarded-For only from configured proxies, one
limit shared by every replica (PostgreSQL), a per-receipt lockout after wrong access codes,
one open complaint per case."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.settings import Settings
from tests.integration.test_intake_public import access, open_case

STATUS = "/v1/public/status"
PROBE = {"receipt_number": "SW00000000000000", "access_code": "NOPE"}


@pytest.fixture
def apps(db_settings: Settings, demo_directory) -> Iterator[Any]:
    """make(**settings) -> a TestClient on a new intake app (a replica) on this database."""
    from services.intake.app import create_app

    with ExitStack() as stack:
        def make(peer: str = "testclient", **update: Any) -> TestClient:
            app = create_app(db_settings.model_copy(update=update))
            return stack.enter_context(TestClient(app, client=(peer, 50000)))

        yield make


def statuses(client: TestClient, n: int, **headers: str) -> list[int]:
    return [client.post(STATUS, json=PROBE, headers=headers).status_code for _ in range(n)]


def test_x_forwarded_for_from_anyone_but_a_trusted_proxy_is_ignored(apps):
    direct = apps("203.0.113.7", public_rate_limit_per_minute=2, access_code_attempts=0)
    codes = [direct.post(STATUS, json=PROBE, headers={"X-Forwarded-For": f"198.51.100.{i}"}
                         ).status_code for i in range(3)]
    assert codes == [404, 404, 429]  # one client, whatever it says it is


def test_behind_a_trusted_proxy_each_citizen_has_their_own_limit(apps):
    proxy = apps("10.1.2.3", public_rate_limit_per_minute=2, access_code_attempts=0,
                 trusted_proxies="10.0.0.0/8")
    for i in range(3):  # three citizens, one request each: none limited
        assert statuses(proxy, 1, **{"X-Forwarded-For": f"198.51.100.{i}, 10.9.9.9"}) == [404]
    same = {"X-Forwarded-For": "192.0.2.1, 198.51.100.50"}  # the client forged the first hop
    assert statuses(proxy, 3, **same) == [404, 404, 429]
    assert statuses(proxy, 1, **{"X-Forwarded-For": "192.0.2.1"}) == [404]  # not the forger


def test_the_limit_is_shared_by_every_replica(apps):
    one, two = (apps("203.0.113.9", public_rate_limit_per_minute=3, access_code_attempts=0)
                for _ in range(2))
    assert statuses(one, 2) + statuses(two, 1) == [404, 404, 404]
    r = two.post(STATUS, json=PROBE)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert r.headers["content-type"] == "application/problem+json"


def test_a_receipt_is_locked_after_wrong_access_codes(apps):
    client = apps(public_rate_limit_per_minute=0, access_code_attempts=3)
    receipt = open_case(client)
    wrong = {**access(receipt), "access_code": "WRONG"}
    assert [client.post(STATUS, json=wrong).status_code for _ in range(3)] == [404] * 3
    r = client.post(STATUS, json=access(receipt))  # the right code, too late
    assert r.status_code == 429 and "wrong access codes" in r.json()["detail"]
    assert int(r.headers["Retry-After"]) > 60
    other = open_case(client)
    assert client.post(STATUS, json=access(other)).status_code == 200


def test_a_right_code_clears_the_count(apps):
    client = apps(public_rate_limit_per_minute=0, access_code_attempts=3)
    receipt = open_case(client)
    wrong = {**access(receipt), "access_code": "WRONG"}
    for _ in range(2):
        assert client.post(STATUS, json=wrong).status_code == 404
        assert client.post(STATUS, json=access(receipt)).status_code == 200
    assert client.post(STATUS, json=wrong).status_code == 404
    assert client.post(STATUS, json=access(receipt)).status_code == 200


def test_one_open_complaint_per_case(apps):
    client = apps(public_rate_limit_per_minute=0)
    receipt = open_case(client)
    first = client.post("/v1/public/complaints", json=access(receipt, complaint="态度冷淡"))
    assert first.status_code == 201, first.text
    again = client.post("/v1/public/complaints", json=access(receipt, complaint="再投诉"))
    assert again.status_code == 409 and "still open" in again.json()["detail"]


def test_a_new_complaint_once_the_last_is_concluded(apps, token_for):
    client = apps(public_rate_limit_per_minute=0)
    receipt = open_case(client)
    assert client.post("/v1/public/complaints", json=access(
        receipt, complaint="态度冷淡")).status_code == 201
    case_id = client.post("/v1/public/status", json=access(receipt)).json().get("case_id")
    if case_id is None:  # the public view hides the case id: find it as staff
        case_id = client.get("/v1/cases", headers=token_for("ZX005")).json()["items"][0][
            "case_id"]
    supervisor = token_for("ZX011")
    opened = client.post(f"/v1/cases/{case_id}/accountability", headers=supervisor,
                         json={"summary": "群众投诉首问责任人推诿"})
    assert opened.status_code == 201, opened.text
    pid = opened.json()["procedure_id"]
    closed = client.post(f"/v1/accountability/{pid}/close", headers=supervisor,
                         json={"withdraw": True, "note": "投诉人撤回"})
    assert closed.status_code == 200, closed.text
    again = client.post("/v1/public/complaints", json=access(receipt, complaint="再次投诉"))
    assert again.status_code == 201, again.text
