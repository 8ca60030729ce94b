"""Open311 GeoReport v2 over HTTP, against a real PostgreSQL with the demo directory."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from events.fields import Channel
from services.common.settings import Settings
from services.directory.index import DirectoryIndex
from services.directory.model import Directory
from services.intake.register import Inquiry, register_inquiry
from services.intake.routes.open311 import first_responder, general_intake_section
from services.web.deps import Wiring

V2 = "/open311/v2"
CARD = "RSJ-SBK-01"  # handled by the social-security card section (two on-duty staff)
PASSPORT = "EXT-02"  # handled by an external body (出入境)
CITIZEN = {"first_name": "小明", "last_name": "王", "phone": "13912345678",
           "email": "wxm@example.cn", "address_string": "示范市新华路1号3单元"}
DESCRIPTION = "我的社保卡丢了，想补办一张"


def wiring(client: TestClient) -> Wiring:
    w: Wiring = client.app.state.wiring  # type: ignore[attr-defined]
    return w


def index(client: TestClient) -> DirectoryIndex:
    ix = wiring(client).directory.get()
    assert ix is not None
    return ix


def event_count(client: TestClient) -> int:
    with wiring(client).pool.connection() as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0


KEY: dict[str, str] = {}


@pytest.fixture(autouse=True)
def api_key(database_url: str) -> str:
    """A client application's key (`shouwen open311 keys add`), in this test's database."""
    from services.intake.open311_keys import issue

    with psycopg.connect(database_url) as conn:
        KEY["api_key"] = issue(conn, "test client", "system:test")
    return KEY["api_key"]


def submit(client: TestClient, service_code: str = CARD, **more: Any) -> Any:
    form = {"service_code": service_code, "description": DESCRIPTION, **CITIZEN, **KEY, **more}
    return client.post(f"{V2}/requests.json", data=form)


def received_event(client: TestClient, receipt_number: str) -> Any:
    with wiring(client).pool.connection() as conn:
        row = conn.execute("SELECT case_id FROM case_index WHERE receipt_number = %s",
                           (receipt_number,)).fetchone()
    assert row is not None
    return wiring(client).repo.store.read_stream(row[0])[0].event


def test_services_list_every_catalogue_matter(intake: TestClient,
                                              demo_directory: Directory) -> None:
    r = intake.get(f"{V2}/services.json")
    assert r.status_code == 200
    services = {s["service_code"]: s for s in r.json()}
    assert set(services) == {m.code for m in demo_directory.matters}
    card = services[CARD]
    matter = index(intake).matters[CARD]
    assert card["service_name"] == matter.name and card["group"] == matter.category
    assert card["type"] == "realtime" and card["keywords"] == ",".join(matter.keywords)
    crj = index(intake).bodies["CRJ"]
    assert crj.name in services[PASSPORT]["description"]
    assert crj.address in services[PASSPORT]["description"]


def test_service_definition_lists_the_required_materials(intake: TestClient) -> None:
    r = intake.get(f"{V2}/services/{CARD}.json")
    assert r.status_code == 200
    body = r.json()
    assert body["service_code"] == CARD
    materials = index(intake).matters[CARD].materials
    assert [a["description"] for a in body["attributes"]] == [f"所需材料：{m}" for m in materials]
    assert all(a["variable"] is False and a["required"] is False for a in body["attributes"])

    missing = intake.get(f"{V2}/services/NOPE-1.json")
    assert missing.status_code == 404
    assert missing.json()["errors"] == [{"code": 404,
                               "description": "service_code: unknown service 'NOPE-1'"}]


def test_a_request_opens_an_online_case_with_an_on_duty_first_responder(
    intake: TestClient,
) -> None:
    busy = index(intake).person("RSJ008")
    assert busy is not None
    with wiring(intake).pool.connection() as conn, conn.transaction():  # RSJ008 has one open
        register_inquiry(wiring(intake).repo, conn, busy,
                         Inquiry(channel=Channel.window, matter="咨询", inquirer_name="张三"))

    r = submit(intake)

    assert r.status_code == 201, r.text
    [created] = r.json()
    receipt = created["service_request_id"]
    assert created["token"] is None and created["account_id"] is None
    event = received_event(intake, receipt)
    assert event.type == "shouwen.case.received.v1"
    assert event.actor == f"inquirer:{receipt}"
    assert event.data["channel"] == "online"
    assert event.data["first_responder_id"] == "RSJ009"  # on duty, fewest open cases
    assert event.data["inquirer_name"] == "王小明"
    assert event.data["matter"].startswith(f"[{CARD}]") and DESCRIPTION in event.data["matter"]
    assert "RSJ009" not in created["service_notice"]
    responder = index(intake).person("RSJ009")
    assert responder is not None and responder.staff.contact in created["service_notice"]
    status = intake.post("/v1/public/status", json={"receipt_number": receipt,
                                                    "access_code": created["access_code"]})
    assert status.status_code == 200 and status.json()["status"] == "received"


def test_an_external_matter_says_where_to_go_and_the_centre_receives_it(
    intake: TestClient,
) -> None:
    r = submit(intake, PASSPORT)

    assert r.status_code == 201, r.text
    [created] = r.json()
    body = index(intake).bodies["CRJ"]
    for fact in (body.name, body.address, body.phone, body.contact_person):
        assert fact in created["service_notice"]
    event = received_event(intake, created["service_request_id"])
    responder = index(intake).person(event.data["first_responder_id"])
    assert responder is not None
    assert responder.staff.section == "ZX-ZHSL" and responder.staff.on_duty


def test_the_fallback_is_the_centres_general_intake_section(
    intake: TestClient, demo_directory: Directory,
) -> None:
    units = [u.model_copy(update={"staff": [
        s.model_copy(update={"on_duty": s.section != "RSJ-SBK"}) for s in u.staff]})
        for u in demo_directory.units]
    ix = DirectoryIndex(demo_directory.model_copy(update={"units": units}), 1)
    assert general_intake_section(ix) == "ZX-ZHSL"
    with psycopg.connect(str(wiring(intake).settings.database_url)) as conn:
        person = first_responder(conn, ix, ix.matters[CARD])
    assert person is not None and person.staff.section == "ZX-ZHSL" and person.staff.on_duty


def test_a_json_body_is_accepted_too(intake: TestClient) -> None:
    r = intake.post(f"{V2}/requests.json", json={"service_code": "SWJ-01",
                                                 "description": "怎么开发票", "last_name": "Li",
                                                 "email": "li@example.cn", **KEY})
    assert r.status_code == 201, r.text
    event = received_event(intake, r.json()[0]["service_request_id"])
    assert event.data["inquirer_name"] == "Li"
    assert event.data["inquirer_email"] == "li@example.cn"


def test_the_openapi_document_describes_both_apis(intake: TestClient) -> None:
    paths = intake.get("/openapi.json").json()["paths"]
    submit_doc = paths[f"{V2}/requests.json"]["post"]
    assert set(submit_doc["requestBody"]["content"]) == {
        "application/x-www-form-urlencoded", "application/json"}
    assert "400" in submit_doc["responses"] and "429" in submit_doc["responses"]
    assert {"/v1/public/status", "/v1/public/rating", "/v1/public/complaints"} <= set(paths)


def test_requests_are_listed_without_the_inquirers_personal_data(intake: TestClient) -> None:
    mine = submit(intake).json()[0]["service_request_id"]
    other = submit(intake, PASSPORT).json()[0]["service_request_id"]
    w = wiring(intake)
    with w.pool.connection() as conn, conn.transaction():  # a walk-in: not an Open311 request
        walk_in = register_inquiry(w.repo, conn, index(intake).person("ZX005"),  # type: ignore[arg-type]
                                   Inquiry(channel=Channel.visit, matter="咨询",
                                           inquirer_name="赵六")).receipt_number

    listed = intake.get(f"{V2}/requests.json")
    by_code = intake.get(f"{V2}/requests.json", params={"service_code": PASSPORT})
    by_ids = intake.get(f"{V2}/requests.json",
                        params={"service_request_id": f"{mine},{walk_in}", "status": "closed"})
    closed = intake.get(f"{V2}/requests.json", params={"status": "closed"})

    assert {r["service_request_id"] for r in listed.json()} == {mine, other}
    assert [r["service_request_id"] for r in by_code.json()] == [other]
    assert [r["service_request_id"] for r in by_ids.json()] == [mine]  # ids: filters ignored
    assert closed.json() == []
    for secret in ("王", "小明", "13912345678", "wxm@example.cn", "RSJ009", "access_code"):
        assert secret not in listed.text  # the problem is public, the person is not
    one = intake.get(f"{V2}/requests/{mine}.json")
    assert one.status_code == 200
    [request] = one.json()
    assert request["status"] == "open" and request["service_code"] == CARD
    assert request["service_name"] == index(intake).matters[CARD].name
    assert request["agency_responsible"] == "示范市人力资源和社会保障局"
    assert request["requested_datetime"] and request["expected_datetime"] is not None
    assert request["description"] == DESCRIPTION
    assert request["address"] == CITIZEN["address_string"]
    assert intake.get(f"{V2}/requests/{walk_in}.json").status_code == 404


@pytest.mark.parametrize(("change", "field"), [
    ({"service_code": "NOPE-1"}, "service_code"),
    ({"description": ""}, "description"),
    ({"description": None}, "description"),
    ({"phone": "12ab-call-me"}, "phone"),
    ({"email": "not-an-email"}, "email"),
    ({"phone": None, "email": None}, "phone"),
    ({"first_name": None, "last_name": None}, "first_name"),
    ({"lat": "36.06"}, "long"),
    ({"lat": "north", "long": "103.8"}, "lat"),
    ({"description": "长" * 3001}, "description"),
])
def test_bad_requests_name_the_field_and_write_nothing(
    intake: TestClient, change: dict[str, Any], field: str,
) -> None:
    before = event_count(intake)
    form = {"service_code": CARD, "description": DESCRIPTION, **CITIZEN, **KEY, **change}
    r = intake.post(f"{V2}/requests.json", data={k: v for k, v in form.items() if v is not None})

    assert r.status_code == 400, r.text
    errors = r.json()["errors"]
    assert all(e["code"] == 400 for e in errors)
    assert any(e["description"].startswith(f"{field}:") for e in errors), errors
    assert event_count(intake) == before


@pytest.mark.parametrize("query", [{"status": "pending"}, {"start_date": "yesterday"}])
def test_bad_filters_are_400_in_open311_form(intake: TestClient, query: dict[str, str]) -> None:
    r = intake.get(f"{V2}/requests.json", params=query)
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert error["code"] == 400 and error["description"].startswith(next(iter(query)))


def test_a_json_body_that_is_not_an_object_is_refused(intake: TestClient) -> None:
    before = event_count(intake)
    r = intake.post(f"{V2}/requests.json", content=b"[1, 2]",
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["errors"][0]["description"].startswith("request:")
    assert event_count(intake) == before


def test_submissions_are_rate_limited_in_open311_form(
    db_settings: Settings, demo_directory: Directory,
) -> None:
    from services.intake.app import create_app

    limited = db_settings.model_copy(update={"public_rate_limit_per_minute": 2})
    with TestClient(create_app(limited)) as client:
        codes = [submit(client).status_code for _ in range(2)]
        before = event_count(client)
        refused = submit(client)
        assert event_count(client) == before
        assert client.get(f"{V2}/services.json").status_code == 200  # reading is not limited

    assert codes == [201, 201]
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    [error] = refused.json()["errors"]
    assert error["code"] == 429 and "too many requests" in error["description"]
