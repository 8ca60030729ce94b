"""Open311 GeoReport v2 as its clients expect it (issue 14, item 9), over HTTP and the CLI.

    .xml beside .json (the spec's default format), errors in XML too
    api_key per client application: `shouwen open311 keys add/list/revoke`; POST without
        one 400, with one not in force 403, nothing written
    a request view fills description, address, lat/long and expected_datetime
    an unknown jurisdiction_id is 404; a list over more than 90 days is 400
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from tests.integration.test_open311 import CARD, CITIZEN, DESCRIPTION, V2, event_count

ROOT = Path(__file__).resolve().parents[2]


def shouwen(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def form(key: str | None, **more: str) -> dict[str, str]:
    body = {"service_code": CARD, "description": DESCRIPTION, **CITIZEN, "lat": "36.0611",
            "long": "103.8343", **more}
    return {**body, "api_key": key} if key else body


def test_keys_are_issued_per_client_checked_and_revoked(intake: TestClient, database_url):
    r = shouwen(database_url, "open311", "keys", "add", "city-app")
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip()
    before = event_count(intake)
    missing = intake.post(f"{V2}/requests.json", data=form(None))
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["description"].startswith("api_key:")
    wrong = intake.post(f"{V2}/requests.json", data=form(key + "x"))
    assert wrong.status_code == 403 and wrong.json()["errors"][0]["code"] == 403
    assert event_count(intake) == before
    assert intake.post(f"{V2}/requests.json", data=form(key)).status_code == 201

    key_id = key.split("_")[1]
    listed = shouwen(database_url, "open311", "keys", "list").stdout
    assert key_id in listed and "city-app" in listed and "in force" in listed
    assert shouwen(database_url, "open311", "keys", "revoke", key_id).returncode == 0
    assert intake.post(f"{V2}/requests.json", data=form(key)).status_code == 403
    assert "revoked" in shouwen(database_url, "open311", "keys", "list").stdout
    assert shouwen(database_url, "open311", "keys", "revoke", key_id).returncode == 2


def test_xml_beside_json_with_the_request_filled_in(intake: TestClient, database_url):
    key = shouwen(database_url, "open311", "keys", "add", "xml-client").stdout.strip()
    services = ET.fromstring(intake.get(f"{V2}/services.xml").content)
    assert services.tag == "services"
    assert CARD in [s.findtext("service_code") for s in services.findall("service")]
    definition = ET.fromstring(intake.get(f"{V2}/services/{CARD}.xml").content)
    assert definition.tag == "service_definition" and definition.findtext("service_code") == CARD
    assert definition.find("attributes/attribute/description") is not None

    r = intake.post(f"{V2}/requests.xml", data=form(key))
    assert r.status_code == 201 and r.headers["content-type"].startswith("application/xml")
    created = ET.fromstring(r.content)
    request_id = created.findtext("request/service_request_id")
    assert request_id and created.findtext("request/access_code")

    one = ET.fromstring(intake.get(f"{V2}/requests/{request_id}.xml").content)
    request = one.find("request")
    assert request is not None
    assert request.findtext("description") == DESCRIPTION
    assert request.findtext("address") == CITIZEN["address_string"]
    assert (request.findtext("lat"), request.findtext("long")) == ("36.0611", "103.8343")
    expected = datetime.fromisoformat(str(request.findtext("expected_datetime")))
    assert expected > datetime.fromisoformat(str(request.findtext("requested_datetime")))
    for secret in ("小明", "13912345678", "wxm@example.cn"):
        assert secret not in intake.get(f"{V2}/requests.xml").text
    [as_json] = intake.get(f"{V2}/requests/{request_id}.json").json()
    assert datetime.fromisoformat(as_json["expected_datetime"]) == expected

    missing = intake.get(f"{V2}/requests/NOPE-1.xml")
    assert missing.status_code == 404
    error = ET.fromstring(missing.content)
    assert error.tag == "errors" and error.findtext("error/code") == "404"


def test_an_unknown_jurisdiction_and_a_long_range_are_refused(intake: TestClient,
                                                              database_url):
    key = shouwen(database_url, "open311", "keys", "add", "j-client").stdout.strip()
    ours = {"jurisdiction_id": "shouwen.local"}
    assert intake.get(f"{V2}/services.json", params=ours).status_code == 200
    r = intake.get(f"{V2}/services.json", params={"jurisdiction_id": "elsewhere.gov"})
    assert r.status_code == 404
    assert r.json()["errors"][0]["description"].startswith("jurisdiction_id")
    before = event_count(intake)
    r = intake.post(f"{V2}/requests.json", data=form(key, jurisdiction_id="elsewhere.gov"))
    assert r.status_code == 404 and event_count(intake) == before
    assert intake.post(f"{V2}/requests.json", data=form(key, **ours)).status_code == 201

    now = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    span = {"start_date": (now - timedelta(days=91)).isoformat(), "end_date": now.isoformat()}
    r = intake.get(f"{V2}/requests.json", params=span)
    assert r.status_code == 400 and "90 days" in r.json()["errors"][0]["description"]
    alone = intake.get(f"{V2}/requests.json",
                       params={"start_date": (now - timedelta(days=120)).isoformat()})
    assert alone.status_code == 400
    ok = intake.get(f"{V2}/requests.json", params={
        "start_date": (now - timedelta(days=60)).isoformat(), "end_date": now.isoformat()})
    assert ok.status_code == 200 and len(ok.json()) == 1
