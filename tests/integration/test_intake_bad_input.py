"""Bad input to the staff API: each gets a 4xx that names the problem, and nothing is written.

Missing ledger fields per channel, an unknown channel, a malformed phone number, oversize
text, wrong types, an unknown or malformed case id; and tokens that are expired, forged
(signed by another key), unsigned (alg=none), HMAC-signed, for another audience, or absent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.common.auth import dev_private_key
from tests.integration.intake_helpers import FIRST, REPLY, WALK_IN, event_count, post, register


@pytest.fixture
def url(db_settings) -> str:
    return str(db_settings.database_url)


def _without(body: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in fields}


LEDGER_GAPS = [
    ({"channel": "phone", "inquirer_name": "陈大伟", "matter": "咨询"}, "inquirer_phone"),
    ({"channel": "hotline", "inquirer_name": "陈大伟", "matter": "咨询"}, "inquirer_phone"),
    ({"channel": "visit", "inquirer_name": "王小明", "matter": "咨询"}, "inquirer_phone"),
    ({"channel": "window", "inquirer_name": "王小明", "matter": "咨询"}, "inquirer_phone"),
    ({"channel": "letter", "inquirer_name": "王小明", "matter": "来信反映",
      "inquirer_phone": "13912345678"}, "inquirer_address"),
    ({"channel": "online", "inquirer_name": "王小明", "matter": "网上咨询",
      "inquirer_address": "示范市和平路12号"}, "inquirer_phone or inquirer_email"),
    (_without(WALK_IN, "inquirer_name"), "inquirer_name"),
    (_without(WALK_IN, "matter"), "matter"),
]
BAD_FIELDS = [
    ({**WALK_IN, "channel": "fax"}, "channel", "Input should be"),
    ({**WALK_IN, "channel": 5}, "channel", "Input should be"),
    ({**WALK_IN, "inquirer_phone": "12345"}, "inquirer_phone", "not a phone number"),
    ({**WALK_IN, "inquirer_phone": "139123456789"}, "inquirer_phone", "not a phone number"),
    ({**WALK_IN, "inquirer_phone": "phone me"}, "inquirer_phone", "not a phone number"),
    ({**WALK_IN, "inquirer_email": "wang@"}, "inquirer_email", "not an email address"),
    ({**WALK_IN, "inquirer_id_number": "1234"}, "inquirer_id_number", "not a resident ID"),
    ({**WALK_IN, "matter": "事" * 4001}, "matter", "at most 4000 characters"),
    ({**WALK_IN, "inquirer_name": "王" * 101}, "inquirer_name", "at most 100 characters"),
    ({**WALK_IN, "inquirer_name": "   "}, "inquirer_name", "at least 1 character"),
    ({**WALK_IN, "inquirer_name": ["王小明"]}, "inquirer_name", "valid string"),
]
CONTROL_CHARACTERS = [
    ({**WALK_IN, "matter": "a\x00b"}, "matter"),
    ({**WALK_IN, "inquirer_address": "和平路\x1b12号"}, "inquirer_address"),
]


def test_missing_ledger_fields_are_refused_per_channel(intake, token_for, url):
    before = event_count(url)
    for body, field in LEDGER_GAPS:
        r = intake.post("/v1/cases", json=body, headers=token_for(FIRST))
        assert r.status_code == 422 and field in r.text, (body, r.text)
    assert event_count(url) == before


def test_malformed_fields_are_refused_naming_the_field(intake, token_for, url):
    before = event_count(url)
    for body, field, message in BAD_FIELDS:
        r = intake.post("/v1/cases", json=body, headers=token_for(FIRST))
        assert r.status_code == 422, (field, r.text)
        error = r.json()["errors"][0]
        assert error["loc"][:2] == ["body", field] and message in error["msg"], (field, error)
    for body, field in CONTROL_CHARACTERS:
        r = intake.post("/v1/cases", json=body, headers=token_for(FIRST))
        assert r.status_code == 422 and f"{field}: text may not contain control" in r.text
    r = intake.post("/v1/cases", content=b"{not json", headers={
        **token_for(FIRST), "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"][0]["type"] == "json_invalid"
    assert event_count(url) == before


def test_well_formed_phone_numbers_are_accepted(intake, token_for):
    for phone in ("13812345678", "+86 13812345678", "0935-8123456", "09358123456",
                  "010-12345678"):
        register(intake, token_for(FIRST), {**WALK_IN, "inquirer_phone": phone})


def test_bad_action_bodies_are_refused_and_write_nothing(intake, token_for, url):
    case_id = register(intake, token_for(FIRST))["case_id"]
    before = event_count(url)
    attempts = [
        ("reply", {"answer": "答" * 4001}, "answer"),
        ("reply", {"answer": ""}, "answer"),
        ("one-time-notice", {"missing_materials": [{"name": "证\x00明"}]},
         "missing_materials.0.name: text may not contain control characters"),
        ("reply", {**REPLY, "expected_version": "abc"}, "expected_version"),
        ("reply", {**REPLY, "channel": "pigeon"}, "channel"),
        ("materials-supplied", {"materials": ["证明"], "complete": "maybe"}, "complete"),
        ("extension-request", {"reason": "核验", "proposed_due_date": "next week"},
         "proposed_due_date"),
        ("escalate", {"to": "the_mayor", "reason": "other", "details": "x"}, "to"),
        ("escalate", {"to": "section_chief", "reason": "other"}, "details"),
        ("refer", {"kind": "sideways"}, "kind"),
        ("transfer-decision", {"decision": "approve"}, "new_responsible_id"),
        ("one-time-notice", {"missing_materials": []}, "missing_materials"),
        ("one-time-notice", {"missing_materials": [{"name": "证明"}, {"name": "证明"}]},
         "twice"),
    ]
    for action, body, problem in attempts:
        r = post(intake, case_id, action, body, token_for(FIRST))
        assert r.status_code == 422 and problem in r.text, (action, r.text)
    assert event_count(url) == before


def test_unknown_and_malformed_case_ids(intake, token_for, url):
    headers = token_for(FIRST)
    before = event_count(url)
    unknown = "C-" + "f" * 32
    assert intake.get(f"/v1/cases/{unknown}", headers=headers).status_code == 404
    r = post(intake, unknown, "reply", REPLY, headers)
    assert r.status_code == 404 and r.json()["detail"] == "case not found"
    for malformed in ("C-xyz", "directory", "C-" + "F" * 32):
        r = intake.get(f"/v1/cases/{malformed}", headers=headers)
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["path", "case_id"]
    assert event_count(url) == before


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _part(obj: dict[str, Any]) -> str:
    return _b64(json.dumps(obj).encode())


def _unsigned(claims: dict[str, Any]) -> str:
    return f"{_part({'alg': 'none', 'typ': 'at+jwt'})}.{_part(claims)}."


def _hmac_with(secret: bytes, claims: dict[str, Any]) -> str:
    """The key-confusion attack: HS256 'signed' with the server's PUBLIC key as secret."""
    signing_input = f"{_part({'alg': 'HS256', 'typ': 'at+jwt'})}.{_part(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _bad_tokens(db_settings) -> list[tuple[str, dict[str, str], str]]:
    now = int(time.time())
    claims = {"iss": db_settings.jwt_issuer, "aud": db_settings.jwt_audience, "sub": FIRST,
              "iat": now, "exp": now + 600}
    header = {"kid": "shouwen-dev", "typ": "at+jwt"}
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = dev_private_key(db_settings).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    forged = jwt.encode(claims, other_key, algorithm="RS256", headers=header)
    confused = _hmac_with(public_pem, claims)
    wrong_aud = jwt.encode({**claims, "aud": "urn:other"}, dev_private_key(db_settings),
                           algorithm="RS256", headers=header)
    bearer = "Bearer {}".format
    return [
        ("forged", {"Authorization": bearer(forged)}, "Signature verification failed"),
        ("alg=none", {"Authorization": bearer(_unsigned(claims))}, "'none' is refused"),
        ("HS256", {"Authorization": bearer(confused)}, "'HS256' is refused"),
        ("audience", {"Authorization": bearer(wrong_aud)}, "Audience"),
        ("garbage", {"Authorization": "Bearer not.a.jwt"}, "malformed token"),
        ("none", {}, "a bearer token is required"),
        ("basic", {"Authorization": "Basic dXNlcjpwYXNz"}, "a bearer token is required"),
    ]


def test_bad_tokens_get_401_naming_the_problem_and_write_nothing(
        intake, token_for, url, db_settings):
    case_id = register(intake, token_for(FIRST))["case_id"]
    cases = [("expired", token_for(FIRST, ttl=-120), "token expired"),
             *_bad_tokens(db_settings)]
    before = event_count(url)
    for name, headers, message in cases:
        for r in (intake.post("/v1/cases", json=WALK_IN, headers=headers),
                  post(intake, case_id, "reply", REPLY, headers),
                  intake.get(f"/v1/cases/{case_id}", headers=headers),
                  intake.get("/v1/cases", headers=headers)):
            assert r.status_code == 401, (name, r.text)
            assert message in r.json()["detail"], (name, r.json())
            assert r.headers["www-authenticate"].startswith("Bearer"), name
    assert event_count(url) == before


def test_a_valid_token_for_someone_not_in_the_directory_is_403(intake, token_for, url):
    before = event_count(url)
    r = intake.post("/v1/cases", json=WALK_IN, headers=token_for("GHOST01"))
    assert r.status_code == 403 and "GHOST01" in r.json()["detail"]
    assert event_count(url) == before
