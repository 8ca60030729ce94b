"""The findings of issue 18, each through the real interface: what once gave a 500, read a
100 MB body whole or stored U+FFFD now gets a bounded 4xx problem document."""

from __future__ import annotations

from typing import Any

import pytest

from tests.hostile.test_corpus import count

PROBLEM = "application/problem+json"
STATUS = "/v1/public/status"
V2 = "/open311/v2"


def problem_of(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text[:300]
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["type"] == "about:blank"
    return body


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e309"])
def test_non_finite_numbers_are_422_naming_the_field_not_500(intake_app, number):
    body = b'{"receipt_number": "SW1", "access_code": ' + number + b"}"
    r = intake_app.post(STATUS, content=body, headers={"content-type": "application/json"})
    assert "access_code" in problem_of(r, 422)["detail"]


def test_a_huge_body_is_413_before_it_is_read_and_not_echoed(intake_app, db_settings):
    big = b'{"receipt_number": "' + b"x" * (db_settings.max_body_bytes + 1) + b'"}'
    r = intake_app.post(STATUS, content=big, headers={"content-type": "application/json"})
    assert "larger than" in problem_of(r, 413)["detail"] and len(r.content) < 1000
    declared = intake_app.post(STATUS, content=b"{}", headers={
        "content-type": "application/json", "content-length": str(100 * 1024 * 1024)})
    assert declared.status_code == 413  # refused on the header alone


def test_a_long_field_is_422_without_echoing_it(intake_app):
    r = intake_app.post(STATUS, json={"receipt_number": "x" * 500_000, "access_code": "A" * 10})
    body = problem_of(r, 422)
    assert body["errors"][0]["field"] == "receipt_number" and len(r.content) < 4000


@pytest.mark.parametrize("path", [f"{V2}/requests/%00.json", f"{V2}/requests.json?service_code=%00",
                                  f"{V2}/requests.json?status=%FF", "/console/cases/C-%00"])
def test_a_nul_or_non_utf8_byte_in_path_or_query_is_400_before_postgresql(intake_app, path):
    assert "NUL" in problem_of(intake_app.get(path), 400)["detail"] or "UTF-8" in intake_app.get(
        path).json()["detail"]


def test_an_open311_body_nested_10000_deep_is_400_not_recursion(intake_app, db_settings):
    before = count(str(db_settings.database_url))
    r = intake_app.post(f"{V2}/requests.json", content=b"[" * 10000 + b"]" * 10000,
                    headers={"content-type": "application/json"})
    assert "nested deeper" in problem_of(r, 400)["detail"]
    assert count(str(db_settings.database_url)) == before


def test_invalid_utf8_in_an_open311_form_is_400_not_stored_as_fffd(intake_app, db_settings):
    before = count(str(db_settings.database_url))
    form = (b"service_code=RSJ-SBK-01&description=%FF%FE&first_name=%E7%8E%8B&last_name=x"
            b"&phone=13912345678&address_string=x")
    r = intake_app.post(f"{V2}/requests.json", content=form,
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert "form.description: not UTF-8" in problem_of(r, 400)["detail"]
    assert count(str(db_settings.database_url)) == before


def test_duplicate_keys_and_lone_surrogates_are_422_naming_the_key(intake_app):
    r = intake_app.post(STATUS, content=b'{"receipt_number": "a", "receipt_number": "b"}',
                    headers={"content-type": "application/json"})
    assert "receipt_number: given twice" in problem_of(r, 422)["detail"]
    r = intake_app.post(STATUS, content=b'{"receipt_number": "\\ud800", "access_code": "x"}',
                    headers={"content-type": "application/json"})
    assert "receipt_number: a lone surrogate" in problem_of(r, 422)["detail"]


@pytest.mark.parametrize("query, field", [
    ("start_date=2026-01-01T00:00:00%2B08:00&end_date=2026-06-01T00:00:00%2B08:00",
     "start_date: at most 90 days"),
    ("start_date=2000-01-01T00:00:00Z", "start_date: at most 90 days before now"),
    ("end_date=9999-12-31T23:59:59Z", "end_date: between 2000-01-01 and 2100-12-31"),
])
def test_open311_ranges_are_at_most_90_days_within_bounds(intake_app, query, field):
    r = intake_app.get(f"{V2}/requests.json?{query}")
    assert problem_of(r, 400)["errors"][0]["description"].startswith(field)


def test_a_ledger_export_in_year_9999_is_422_naming_the_field_and_bound(ledger_app, token_for):
    r = ledger_app.get("/v1/ledger/export?unit=ZWFWZX&from=9999-12-01&to=9999-12-31",
                   headers=token_for("ZX001"))
    body = problem_of(r, 422)
    fields = {e["field"]: e["msg"] for e in body["errors"]}
    assert "2100-12-31" in fields["to"] and "2100-12-31" in fields["from"]


def test_the_openapi_documents_say_problem_json_and_retry_after(intake_app, ledger_app):
    for doc in (intake_app.get("/openapi.json").json(), ledger_app.get("/openapi.json").json()):
        assert "Problem" in doc["components"]["schemas"]
        for path, ops in doc["paths"].items():
            for method, op in ops.items():
                for code, answer in op["responses"].items():
                    if code[0] in "45":
                        assert list(answer["content"]) == [PROBLEM], (path, method, code)
                    if code in ("429", "503"):
                        assert "Retry-After" in answer["headers"], (path, method, code)


CROSS_FIELD = [  # (body, the server accepts it)
    ({"channel": "phone", "matter": "咨询", "inquirer_name": "陈大伟"}, False),
    ({"channel": "phone", "matter": "咨询", "inquirer_name": "陈大伟",
      "inquirer_phone": None}, False),
    ({"channel": "phone", "matter": "咨询", "inquirer_name": "陈大伟",
      "inquirer_phone": "13912345678"}, True),
    ({"channel": "letter", "matter": "来信", "inquirer_name": "王小明",
      "inquirer_phone": "13912345678"}, False),
    ({"channel": "online", "matter": "网上咨询", "inquirer_name": "王小明"}, False),
    ({"channel": "online", "matter": "网上咨询", "inquirer_name": "王小明",
      "inquirer_email": "wang@example.cn"}, True),
]


def test_cross_field_rules_are_in_the_openapi_schema_and_agree_with_the_server(
        intake_app, token_for):
    import jsonschema_rs  # schemathesis's own validator

    doc = intake_app.get("/openapi.json").json()
    schema = jsonschema_rs.Draft202012Validator(
        {"$ref": "#/components/schemas/RegisterInquiry", "components": doc["components"]})
    for body, accepted in CROSS_FIELD:
        assert schema.is_valid(body) is accepted, body
        r = intake_app.post("/v1/cases", json=body, headers=token_for("ZX005"))
        assert (r.status_code == 201) is accepted, (body, r.text)


def test_a_history_as_of_outside_2000_to_2100_is_422_and_leaves_no_audit_row(
        intake_app, ledger_app, token_for, db_settings):
    """Found by the live run against `shouwen up`: year 1 at +14:00 was stored in the audit
    log as a time before year 1 (UTC), a row no reader can load; "-1" was 1969."""
    from tests.hostile.test_corpus import WALK_IN

    made = intake_app.post("/v1/cases", json=WALK_IN, headers=token_for("ZX005"))
    assert made.status_code == 201, made.text
    history, url = f"/v1/cases/{made.json()['case_id']}/history", str(db_settings.database_url)
    before = count(url)
    for as_of in ("0001-01-01T00:00:00%2B14:00", "-1", "9999-12-31T23:59:59Z"):
        r = ledger_app.get(f"{history}?as_of={as_of}", headers=token_for("ZX001"))
        assert "as_of" in problem_of(r, 422)["detail"]
    assert count(url) == before
    assert ledger_app.get(f"{history}?as_of=2026-11-02T09:00:00%2B08:00",
                      headers=token_for("ZX001")).status_code == 200


def test_a_dashboard_sign_in_of_an_unknown_id_is_a_problem_document_to_a_json_client(ledger_app):
    from tests.hostile.test_corpus import csrf_of

    page = ledger_app.get("/dashboard/sign-in")
    r = ledger_app.post("/dashboard/sign-in", data={"csrf": csrf_of(page.text),
                                                "staff_id": "a\r\nb", "next": ""},
                    headers={"accept": "application/json"})
    assert "staff_id" in problem_of(r, 422)["detail"]
    browser = ledger_app.post("/dashboard/sign-in", data={"csrf": csrf_of(page.text),
                                                      "staff_id": "NOBODY", "next": ""})
    assert browser.status_code == 422 and browser.headers["content-type"].startswith("text/html")
