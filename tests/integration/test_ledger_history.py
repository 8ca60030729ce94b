"""History replay and the 台账 export over HTTP and the CLI: real PostgreSQL, the demo city.

People (deploy/demo/directory.yaml): ZX005 centre window clerk, ZX011 supervisor (centre),
ZX013 centre_admin (reads every case, inquirers masked), RSJ004 social-security section
chief, SWJ005 tax unit. Cases from ledger_cases: case-00000 centre → referred to RSJ,
case-00004 received by RSJ, case-00005 centre only.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from services.ledger.rebuild import rebuild_from_store
from services.relay.sequencer import sequence_pass
from tests.integration.ledger_cases import append_cases

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ledger_api(db_settings, demo_directory):
    from services.ledger.app import create_app

    url = str(db_settings.database_url)
    append_cases(url, 12)
    with psycopg.connect(url, autocommit=True) as conn:  # the relay's sequencer, once
        while sequence_pass(conn):
            pass
    rebuild_from_store(url)  # the projection the export reads
    with TestClient(create_app(db_settings)) as client:
        yield client


def audit(url: str) -> list[tuple[str, str, str, str | None, str | None, bool]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT reader, action, via, case_id, unit_id, personal_data"
                            " FROM access_audit ORDER BY id").fetchall()


def recorded_at(url: str, case_id: str, version: int):
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT recorded_at FROM events WHERE stream_id = %s AND version = %s",
                           (case_id, version)).fetchone()
    assert row is not None
    return row[0]


def test_history_is_the_chain_of_custody_with_actors_deadlines_and_the_verified_chain(
    ledger_api, token_for, db_settings
) -> None:
    r = ledger_api.get("/v1/cases/case-00000/history", headers=token_for("ZX005"))
    assert r.status_code == 200, r.text
    h = r.json()
    assert len(h["steps"]) == h["events_total"] == 13
    first, handoff, accepted = h["steps"][0], h["steps"][2], h["steps"][3]
    assert first["actor"]["name"] == "李娜" and first["actor"]["unit_id"] == "ZWFWZX"
    assert "综合" in first["actor"]["post"] and "王0" in first["did"]
    assert handoff["actor"]["name"] == "谢丹丹" and handoff["actor"]["unit_id"] == "RSJ"
    assert accepted["deadline_in_force"] == "time limit 2026-11-06"
    assert accepted["responsible_id"] == "ZX005" and accepted["said"] == "材料齐全后当场办理"
    assert h["steps"][7]["said"] == "社保卡已制好，请来领取"
    assert h["verification"]["ok"] and h["verification"]["events_checked"] == 13
    assert h["state"]["status"] == "closed" and h["missing_haves"] == []
    assert h["state"]["inquirer_phone"] == "13900000000"
    assert h["directory_versions"] == [1]
    metrics = ledger_api.get("/metrics").text
    assert 'shouwen_ledger_reads_total{action="history",format="json"}' in metrics
    assert 'route="/v1/cases/{case_id}/history"' in metrics
    assert ledger_api.get("/healthz").json() == {"status": "ok"}
    assert ledger_api.get("/readyz").json()["directory"] == "loaded"


def test_history_as_of_a_past_time_is_the_case_as_it_stood_then(ledger_api, token_for,
                                                               db_settings) -> None:
    url = str(db_settings.database_url)
    at = recorded_at(url, "case-00001", 4)  # accepted, deadline set, then breached
    r = ledger_api.get("/v1/cases/case-00001/history", params={"as_of": at.isoformat()},
                       headers=token_for("ZX005"))
    h = r.json()
    assert [s["version"] for s in h["steps"]] == [1, 2, 3, 4] and h["events_total"] == 7
    assert h["state"]["overdue"] is True and h["state"]["due_date"] == "2026-11-06"
    assert h["state"]["status"] == "in_handling" and h["verification"]["ok"]
    before = ledger_api.get("/v1/cases/case-00001/history", headers=token_for("ZX005"),
                            params={"as_of": (recorded_at(url, "case-00001", 1)
                                              - timedelta(seconds=1)).isoformat()}).json()
    assert before["steps"] == [] and before["state"] is None


def test_scope_another_units_staff_get_404_supervisors_see_across_units(
    ledger_api, token_for, db_settings
) -> None:
    hidden = ledger_api.get("/v1/cases/case-00005/history", headers=token_for("SWJ005"))
    missing = ledger_api.get("/v1/cases/no-such-case/history", headers=token_for("SWJ005"))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    assert ledger_api.get("/v1/cases/case-00005/history",
                          headers=token_for("RSJ004")).status_code == 404
    assert ledger_api.get("/v1/cases/case-00000/history",  # referred to RSJ: in its scope
                          headers=token_for("RSJ004")).status_code == 200
    sup = ledger_api.get("/v1/cases/case-00004/history", headers=token_for("ZX011")).json()
    assert sup["personal_data"] and sup["state"]["inquirer_name"] == "王4"
    admin = ledger_api.get("/v1/cases/case-00004/history", headers=token_for("ZX013")).json()
    assert not admin["personal_data"] and admin["state"]["inquirer_name"] == "王*"
    assert "王4" not in str(admin) and "13900000004" not in str(admin)
    assert ledger_api.get("/v1/cases/case-00004/history").status_code == 401
    rows = audit(str(db_settings.database_url))
    assert ("staff:RSJ004", "history", "api", "case-00000", None, True) in rows
    assert ("staff:ZX013", "history", "api", "case-00004", None, False) in rows
    assert not any(r[0] == "staff:SWJ005" for r in rows)  # nothing shown, nothing recorded


def test_a_tampered_event_is_reported_by_the_replay(ledger_api, token_for, db_settings) -> None:
    with psycopg.connect(str(db_settings.database_url)) as conn:
        conn.execute("SET session_replication_role = replica")  # a superuser past the guard
        conn.execute("UPDATE events SET data = jsonb_set(data, '{answer}', '\"改过的答复\"')"
                     " WHERE stream_id = 'case-00005' AND version = 4")
    h = ledger_api.get("/v1/cases/case-00005/history", headers=token_for("ZX005")).json()
    assert not h["verification"]["ok"]
    assert any("version 4 was altered" in p for p in h["verification"]["problems"])
    page = ledger_api.get("/v1/cases/case-00005/history", params={"format": "html"},
                          headers=token_for("ZX005"))
    assert page.status_code == 200 and "HASH CHAIN BROKEN" in page.text


@pytest.mark.parametrize(("params", "field"), [
    ({"as_of": "yesterday"}, "as_of"),
    ({"as_of": "2026-11-02T09:00:00"}, "as_of"),
    ({"format": "pdf"}, "format"),
])
def test_bad_history_input_is_422_naming_the_field(ledger_api, token_for, params,
                                                   field) -> None:
    r = ledger_api.get("/v1/cases/case-00000/history", params=params, headers=token_for("ZX005"))
    assert r.status_code == 422 and field in r.text


def test_export_is_unmasked_only_for_a_role_the_unit_grants_full_export_and_audited(
        ledger_api, token_for, db_settings) -> None:
    from services.personal.policy import set_policy

    period = {"unit": "ZWFWZX", "from": "2026-11-01", "to": "2026-11-30"}
    url = str(db_settings.database_url)
    with psycopg.connect(url) as conn:
        set_policy(conn, "ZWFWZX", 3, ["section_chief"], "staff:ZX013")
    clerk = ledger_api.get("/v1/ledger/export", params=period, headers=token_for("ZX005"))
    assert "139****0000" in clerk.text and "13900000000" not in clerk.text
    chief = ledger_api.get("/v1/ledger/export", params=period, headers=token_for("ZX004"))
    assert "13900000000" in chief.text
    rows = audit(url)
    assert ("staff:ZX004", "export", "api", None, "ZWFWZX", True) in rows
    assert ("staff:ZX005", "export", "api", None, "ZWFWZX", False) in rows


def test_export_csv_and_xlsx_hold_the_units_ledger_for_the_period(ledger_api, token_for,
                                                                  db_settings) -> None:
    period = {"unit": "ZWFWZX", "from": "2026-11-01", "to": "2026-11-30"}
    r = ledger_api.get("/v1/ledger/export", params=period, headers=token_for("ZX005"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("受理编号 receipt,") and len(lines) == 1 + 10  # 2 of 12 in RSJ
    # minimum necessary: the clerk's role is not granted full export, so phones are masked
    assert "T-00000" in lines[1] and "王0" in lines[1] and "139****0000" in lines[1]
    assert "社保卡已制好，请来领取" in lines[1] and "谢丹丹" in lines[1]
    r = ledger_api.get("/v1/ledger/export", params={**period, "format": "xlsx"},
                       headers=token_for("ZX005"))
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 11 and rows[1][0] == "T-00000" and rows[1][3] == "王0"
    masked = ledger_api.get("/v1/ledger/export", headers=token_for("ZX013"),
                            params={"unit": "RSJ", "from": "2026-11-01", "to": "2026-11-30"})
    assert masked.status_code == 200 and "王4" not in masked.content.decode("utf-8-sig")
    none = ledger_api.get("/v1/ledger/export", headers=token_for("ZX005"),
                          params={"unit": "ZWFWZX", "from": "2026-12-01", "to": "2026-12-31"})
    assert len(none.content.decode("utf-8-sig").splitlines()) == 1
    assert ledger_api.get("/v1/ledger/export", params=period,
                          headers=token_for("RSJ004")).status_code == 403
    rows_audit = audit(str(db_settings.database_url))
    assert ("staff:ZX005", "export", "api", None, "ZWFWZX", False) in rows_audit
    assert ("staff:ZX013", "export", "api", None, "RSJ", False) in rows_audit
    assert not any(r[0] == "staff:RSJ004" for r in rows_audit)


@pytest.mark.parametrize(("params", "field"), [
    ({"unit": "NOPE", "from": "2026-11-01", "to": "2026-11-30"}, "unit"),
    ({"unit": "ZWFWZX", "from": "2026-11-30", "to": "2026-11-01"}, "to"),
    ({"unit": "ZWFWZX", "from": "2026-11-01", "to": "2026-11-30", "format": "pdf"}, "format"),
    ({"unit": "ZWFWZX", "to": "2026-11-30"}, "from"),
    ({"unit": "ZWFWZX", "from": "2025-01-01", "to": "2026-11-30"}, "to"),
])
def test_bad_export_input_is_422_naming_the_field_and_records_nothing(
    ledger_api, token_for, db_settings, params, field
) -> None:
    r = ledger_api.get("/v1/ledger/export", params=params, headers=token_for("ZX005"))
    assert r.status_code == 422 and field in r.text
    assert audit(str(db_settings.database_url)) == []


def test_the_access_audit_is_append_only(ledger_api, token_for, db_settings) -> None:
    ledger_api.get("/v1/cases/case-00000/history", headers=token_for("ZX005"))
    with psycopg.connect(str(db_settings.database_url)) as conn:
        for sql in ("UPDATE access_audit SET reader = 'x'", "DELETE FROM access_audit",
                    "TRUNCATE access_audit"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(sql)
            conn.rollback()


def shouwen(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_replay_by_receipt_number_text_and_html_recorded_as_the_operator(
    db_settings, demo_directory
) -> None:
    url = str(db_settings.database_url)
    append_cases(url, 6)
    with psycopg.connect(url) as conn:  # the CLI finds a case by its receipt number too
        conn.execute("INSERT INTO case_index (case_id, receipt_number, unit_id, status, channel,"
                     " first_responder_id, responsible_id, version, opened_at, updated_at)"
                     " VALUES ('case-00000', 'T-00000', 'ZWFWZX', 'closed', 'visit', 'ZX005',"
                     " 'ZX005', 13, now(), now())")
    out = shouwen(url, "replay", "T-00000", "--by", "ZX005")
    assert out.returncode == 0, out.stderr
    assert "hash chain intact: 13 event(s) verified" in out.stdout
    assert "王0" in out.stdout and "李娜, 综合" in out.stdout
    masked = shouwen(url, "replay", "case-00004", "--format", "html")
    assert masked.returncode == 0 and "<table" in masked.stdout and "王4" not in masked.stdout
    assert shouwen(url, "replay", "case-00005", "--by", "SWJ005").returncode == 2
    assert shouwen(url, "replay", "case-00000", "--as-of", "2026-11-02").returncode == 2
    year_1 = shouwen(url, "replay", "case-00000", "--as-of", "0001-01-01T00:00:00+14:00")
    assert year_1.returncode == 2 and "between 2000 and 2100" in year_1.stderr  # no audit row
    assert shouwen(url, "replay", "case-00000", "--format", "pdf").returncode == 2
    rows = audit(url)
    assert rows[0] == ("staff:ZX005", "replay", "cli", "case-00000", None, True)
    assert rows[1][1:] == ("replay", "cli", "case-00004", None, False)
    assert rows[1][0].startswith("cli:") and len(rows) == 2
