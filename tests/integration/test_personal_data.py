"""Personal data end to end (PIPL): sealed in the store and on the topic, opened for those
who may read it, erased by destroying the inquirer's key — while every proof still holds.

Real PostgreSQL and broker, the demo city (tests/integration/intake_helpers.py: ZX005 window
clerk, ZX013 centre admin). Encryption is on (SHOUWEN_PII_ENCRYPTION, a development KEK in
the test's data dir), for this process and the `shouwen` subprocesses alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import psycopg
import pytest

from events.sealed import ERASED
from services.common.pii import reset_personal_data
from services.ledger.rebuild import rebuild_from_store
from services.notification.planner import Planner
from services.notification.settings import NotifySettings
from services.relay.relay import run as run_relay
from services.relay.sequencer import sequence_pass
from tests.integration.intake_helpers import WALK_IN, register
from tests.integration.test_relay import read_topic

SHOUWEN = str(Path(sys.executable).parent / "shouwen")
NAME, PHONE, ADDRESS = WALK_IN["inquirer_name"], WALK_IN["inquirer_phone"], "示范市和平路12号"
OTHER = {**WALK_IN, "inquirer_name": "赵六", "inquirer_phone": "13700001111",
         "inquirer_address": "示范市胜利路8号"}


@pytest.fixture
def sealed_env(monkeypatch, db_settings):
    monkeypatch.setenv("SHOUWEN_PII_ENCRYPTION", "true")
    monkeypatch.setenv("SHOUWEN_DATA_DIR", str(db_settings.data_dir))
    pd = reset_personal_data()
    assert pd.enabled
    yield pd
    monkeypatch.delenv("SHOUWEN_PII_ENCRYPTION")
    reset_personal_data()


@pytest.fixture
def shouwen(settings, db_settings, tmp_path, sealed_env):
    env = dict(os.environ, DATABASE_URL=str(db_settings.database_url),
               SHOUWEN_DATA_DIR=str(db_settings.data_dir), SHOUWEN_PII_ENCRYPTION="true",
               KAFKA_BOOTSTRAP_SERVERS=str(settings.kafka_bootstrap_servers),
               SHOUWEN_CASE_EVENTS_TOPIC=settings.case_events_topic)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SHOUWEN, *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False, cwd=tmp_path)

    return run


def sequence(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        while sequence_pass(conn):
            pass


def everywhere(url: str) -> str:
    """The text of every table a plain value could hide in."""
    with psycopg.connect(url) as conn:
        return "\n".join(str(conn.execute(f"SELECT coalesce(json_agg(t)::text, '') FROM {t} t"
                                          ).fetchone()[0])
                         for t in ("events", "ledger_rows", "case_summary",
                                   "notification_deliveries", "case_index", "staff_inbox"))


def ledger_export(db_settings, headers: dict[str, str]) -> str:
    """The centre's 台账 for this month, unmasked (the clerk's role granted full export)."""
    from datetime import date, timedelta

    from fastapi.testclient import TestClient

    from services.ledger.app import create_app
    from services.personal.policy import set_policy

    with psycopg.connect(str(db_settings.database_url)) as conn:
        set_policy(conn, "ZWFWZX", None, ["staff"], "staff:ZX013")
    today = date.today()  # a day either side: whatever the time zones make of "today"
    with TestClient(create_app(db_settings)) as ledger:
        r = ledger.get("/v1/ledger/export", headers=headers, params={
            "unit": "ZWFWZX", "from": (today - timedelta(days=1)).isoformat(),
            "to": (today + timedelta(days=1)).isoformat()})
    assert r.status_code == 200, r.text
    return r.content.decode("utf-8-sig")


def test_personal_fields_are_sealed_in_the_store_and_opened_for_the_case_reader(
        intake, token_for, db_settings, sealed_env) -> None:
    url = str(db_settings.database_url)
    first = register(intake, token_for("ZX005"))
    second = register(intake, token_for("ZX005"), {**WALK_IN, "matter": "第二次来问社保卡"})
    register(intake, token_for("ZX005"), OTHER)
    with psycopg.connect(url) as conn:
        data = conn.execute("SELECT data FROM events WHERE stream_id = %s AND version = 1",
                            (first["case_id"],)).fetchone()[0]
        refs = dict(conn.execute("SELECT case_id, inquirer_ref FROM pii_cases").fetchall())
    assert data["inquirer_name"].startswith("enc:v1:") and data["matter"] == WALK_IN["matter"]
    assert NAME not in everywhere(url) and PHONE not in everywhere(url)
    assert refs[first["case_id"]] == refs[second["case_id"]]  # one inquirer, one key
    assert len(set(refs.values())) == 2
    shown = intake.get(f"/v1/cases/{first['case_id']}", headers=token_for("ZX005")).json()
    assert shown["events"][0]["data"]["inquirer_name"] == NAME


def test_erasure_leaves_no_plain_value_and_every_proof_valid(
        intake, token_for, db_settings, settings, shouwen, tmp_path, bootstrap) -> None:
    url = str(db_settings.database_url)
    mine = [register(intake, token_for("ZX005"), {**WALK_IN, "matter": f"第{i}次问社保卡"})
            for i in range(3)]
    other = register(intake, token_for("ZX005"), OTHER)
    sequence(url)
    rebuild_from_store(url)  # the ledger's projections, with the plain values
    with psycopg.connect(url) as conn, conn.transaction():
        received = [r[0] for r in conn.execute(
            "SELECT event_id FROM events WHERE version = 1 AND type LIKE '%%received%%'")]
        from services.common.eventstore import read_streams
        events = [rs[0].event for rs in read_streams(
            conn, [c["case_id"] for c in [*mine, other]]).values()]
        Planner(NotifySettings(), lambda: None).handle_batch(conn, events)
        rows = conn.execute("SELECT inquirer_name, inquirer_phone FROM ledger_rows"
                            " WHERE case_id = %s", (mine[0]["case_id"],)).fetchone()
        addresses = {r[0] for r in conn.execute("SELECT address FROM notification_deliveries")}
    assert len(received) == 4 and rows == (NAME, PHONE) and PHONE in addresses
    assert shouwen("checkpoint").returncode == 0
    old_note = tmp_path / "old-checkpoint"
    old_note.write_text((db_settings.data_dir / "proof" / "checkpoint").read_text())
    made = shouwen("bundle", mine[0]["case_id"], "--by", "ZX005", "--out", "before.zip")
    assert made.returncode == 0, made.stderr
    key = shouwen("checkpoint", "export-key")
    (tmp_path / "pub.pem").write_text(key.stdout)

    erased = shouwen("erase", "--inquirer", mine[1]["receipt_number"], "--by", "ZX013",
                     "--reason", "本人申请删除个人信息")
    assert erased.returncode == 0, erased.stderr
    assert "3 case(s)" in erased.stdout
    assert NAME not in erased.stdout + erased.stderr  # nor in what it logs

    sequence(url)
    text = everywhere(url)
    assert NAME not in text and PHONE not in text and ADDRESS not in text
    assert "139****5678" in text  # the delivery record keeps the masked address
    assert OTHER["inquirer_name"] in text  # another inquirer's 台账 row is untouched
    replay = shouwen("replay", mine[0]["case_id"], "--by", "ZX005", "--format", "json")
    assert replay.returncode == 0, replay.stderr
    assert ERASED in replay.stdout and NAME not in replay.stdout and PHONE not in replay.stdout
    other_replay = shouwen("replay", other["case_id"], "--by", "ZX005", "--format", "json")
    assert OTHER["inquirer_name"] in other_replay.stdout
    rebuild_from_store(url)  # a rebuild from the store cannot bring them back
    assert NAME not in everywhere(url)
    exported = ledger_export(db_settings, token_for("ZX005"))
    assert OTHER["inquirer_name"] in exported and ERASED in exported
    assert NAME not in exported and PHONE not in exported and ADDRESS not in exported
    shown = intake.get(f"/v1/cases/{mine[2]['case_id']}", headers=token_for("ZX005")).json()
    assert shown["events"][0]["data"]["inquirer_name"] == ERASED

    assert shouwen("verify").returncode == 0
    assert shouwen("checkpoint").returncode == 0
    checked = shouwen("verify-checkpoint", str(old_note))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    old = shouwen("verify-bundle", "before.zip", "--key", "pub.pem")
    assert old.returncode == 0, old.stdout + old.stderr
    after = shouwen("bundle", mine[0]["case_id"], "--by", "ZX005", "--out", "after.zip")
    assert after.returncode == 0, after.stderr
    with zipfile.ZipFile(tmp_path / "after.zip") as z:
        inside = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    assert NAME not in inside and PHONE not in inside and ERASED in inside
    assert shouwen("verify-bundle", "after.zip", "--key", "pub.pem").returncode == 0

    run_relay(settings.model_copy(update={"relay_metrics_port": 0}), once=True)
    with psycopg.connect(url) as conn:
        total = conn.execute("SELECT count(*) FROM commit_log").fetchone()[0]
    on_topic = read_topic(bootstrap, settings.case_events_topic, total)
    values = "".join(str(e.data) for _, _, e in on_topic)
    assert NAME not in values and PHONE not in values
    assert any(e.type == "shouwen.case.inquirer_erased.v1" for _, _, e in on_topic)
    with psycopg.connect(url) as conn:
        audit = conn.execute("SELECT count(*) FROM access_audit WHERE action = 'erase'"
                             " AND reader = 'staff:ZX013'").fetchone()[0]
    assert audit == 3
    again = shouwen("erase", "--inquirer", mine[1]["receipt_number"], "--by", "ZX013",
                    "--reason", "again")
    assert again.returncode == 0 and "erased before" in again.stdout


def test_erasure_is_refused_under_a_legal_hold_and_for_staff_without_the_role(
        intake, token_for, db_settings, shouwen) -> None:
    from services.personal.retention import place_hold

    case = register(intake, token_for("ZX005"))
    with psycopg.connect(str(db_settings.database_url)) as conn:  # `retention hold`: below
        place_hold(conn, case["case_id"], "行政复议中", "staff:ZX013")
    refused = shouwen("erase", "--inquirer", case["receipt_number"], "--by", "ZX013",
                      "--reason", "本人申请")
    assert refused.returncode == 1 and "legal hold" in refused.stderr
    clerk = shouwen("erase", "--inquirer", case["receipt_number"], "--by", "ZX005",
                    "--reason", "本人申请")
    assert clerk.returncode == 2 and "roles" in clerk.stderr
    assert shouwen("retention", "release", case["case_id"], "--by", "ZX013").returncode == 0
    assert shouwen("erase", "--inquirer", case["receipt_number"], "--by", "ZX013",
                   "--reason", "本人申请").returncode == 0


def test_the_citizen_downloads_a_copy_of_what_is_held_about_them_audited(
        intake, token_for, db_settings, sealed_env) -> None:
    receipt = register(intake, token_for("ZX005"))
    access = {"receipt_number": receipt["receipt_number"], "access_code": receipt["access_code"]}
    r = intake.post("/v1/public/copy", json=access)
    assert r.status_code == 200, r.text
    copy = r.json()
    fields = {p["field"]: p["value"] for p in copy["personal_data"]}
    assert fields["inquirer_name"] == NAME and fields["inquirer_phone"] == PHONE
    assert copy["receipt_number"] == receipt["receipt_number"] and copy["steps"]
    page = intake.post("/v1/public/copy", json={**access, "format": "html"})
    assert page.headers["content-type"].startswith("text/html") and NAME in page.text
    wrong = intake.post("/v1/public/copy", json={**access, "access_code": "WRONG23456"})
    assert wrong.status_code == 404
    with psycopg.connect(str(db_settings.database_url)) as conn:
        audited = conn.execute("SELECT reader, format FROM access_audit WHERE action = 'copy'"
                               " ORDER BY id").fetchall()
    assert audited == [(f"inquirer:{receipt['receipt_number']}", "json"),
                       (f"inquirer:{receipt['receipt_number']}", "html")]

    clerk = intake.post("/v1/admin/inquirers/erase", headers=token_for("ZX005"),
                        json={"inquirer": receipt["receipt_number"], "reason": "本人申请"})
    assert clerk.status_code == 403
    done = intake.post("/v1/admin/inquirers/erase", headers=token_for("ZX013"),
                       json={"inquirer": receipt["receipt_number"], "reason": "本人申请"})
    assert done.status_code == 200 and done.json()["cases"] == [receipt["case_id"]]
    after = intake.post("/v1/public/copy", json=access).json()
    assert {p["value"] for p in after["personal_data"]} == {ERASED}
    missing = intake.post("/v1/admin/inquirers/erase", headers=token_for("ZX013"),
                          json={"inquirer": "inq-0000", "reason": "x"})
    assert missing.status_code == 404


def old_case(url: str, case_id: str, closed_days_ago: int | None) -> None:
    from datetime import UTC, datetime, timedelta

    from events import new_event
    from events.case import CaseReceived
    from events.case_outcome import CaseClosed
    from services.common.eventstore import EventStore

    at = datetime.now(UTC) - timedelta(days=(closed_days_ago or 0) + 30)
    events = [new_event(CaseReceived(
        channel="window", receipt_number=f"R-{case_id}", unit_id="ZWFWZX", matter="补办社保卡",
        inquirer_name=f"孙{case_id}", inquirer_phone="13600000000", first_responder_id="ZX005",
        first_responder_name="李娜", first_responder_duty="窗口", first_responder_contact="0935"),
        subject=case_id, actor="staff:ZX005", time=at)]
    if closed_days_ago is not None:
        events.append(new_event(CaseClosed(reason="completed"), subject=case_id,
                                actor="staff:ZX005",
                                time=datetime.now(UTC) - timedelta(days=closed_days_ago)))
    EventStore(url).append(case_id, events, expected_version=0)


def test_retention_erases_what_is_past_the_units_period_and_keeps_what_is_held(
        db_settings, demo_directory, shouwen) -> None:
    url = str(db_settings.database_url)
    old_case(url, "old-1", 3 * 365)  # closed three years ago: due
    old_case(url, "old-held", 3 * 365)  # due, but under a legal hold
    old_case(url, "recent", 100)  # closed 100 days ago: kept
    old_case(url, "open", None)  # still open: kept
    sequence(url)
    rebuild_from_store(url)
    assert shouwen("retention", "policy", "ZWFWZX", "--years", "2", "--by", "ZX013"
                   ).returncode == 0
    assert shouwen("retention", "hold", "old-held", "--reason", "诉讼中", "--by", "ZX011"
                   ).returncode == 0
    ran = shouwen("retention", "run")
    assert ran.returncode == 0, ran.stderr
    assert "1 inquirer(s) erased, 1 held" in ran.stdout
    with psycopg.connect(url) as conn:
        names = dict(conn.execute("SELECT case_id, inquirer_name FROM ledger_rows").fetchall())
        grounds = conn.execute("SELECT data->>'ground' FROM events"
                               " WHERE type = 'shouwen.case.inquirer_erased.v1'").fetchall()
    assert names == {"old-1": ERASED, "old-held": "孙old-held", "recent": "孙recent",
                     "open": "孙open"}
    assert grounds == [("retention",)]
    assert "0 inquirer(s) erased, 1 held" in shouwen("retention", "run").stdout


def test_cut_over_keeps_older_events_plain_and_seals_from_the_marked_position_on(
        intake, token_for, db_settings, monkeypatch, shouwen) -> None:
    url = str(db_settings.database_url)
    monkeypatch.setenv("SHOUWEN_PII_ENCRYPTION", "false")
    reset_personal_data()
    before = register(intake, token_for("ZX005"))  # written before the cut-over: plain
    status = shouwen("pii", "status")
    assert "cut-over: none yet" in status.stdout, status.stdout + status.stderr
    monkeypatch.setenv("SHOUWEN_PII_ENCRYPTION", "true")
    reset_personal_data()
    after = register(intake, token_for("ZX005"), OTHER)
    with psycopg.connect(url) as conn:
        (plain_at,) = conn.execute("SELECT position FROM events WHERE stream_id = %s",
                                   (before["case_id"],)).fetchone()
        (cut,) = conn.execute("SELECT position FROM pii_cutover").fetchone()
        rows = dict(conn.execute("SELECT stream_id, data->>'inquirer_name' FROM events"
                                 " WHERE version = 1").fetchall())
    assert cut >= plain_at
    assert rows[before["case_id"]] == NAME and rows[after["case_id"]].startswith("enc:v1:")
    status = shouwen("pii", "status")
    assert "encryption: on" in status.stdout and f"after position {cut}" in status.stdout
    for case in (before, after):  # both read the same way
        shown = intake.get(f"/v1/cases/{case['case_id']}", headers=token_for("ZX005")).json()
        assert shown["events"][0]["data"]["inquirer_name"] in (NAME, OTHER["inquirer_name"])
    # a later personal fact about the old case is sealed, with a key of its own
    from events import new_event
    from events.case_outcome import ResultDelivered
    from services.common.eventstore import EventStore

    store = EventStore(url)
    version = store.stream_version(before["case_id"])
    store.append(before["case_id"], [new_event(
        ResultDelivered(method="post", recipient_name=NAME, recipient_contact=ADDRESS),
        subject=before["case_id"], actor="staff:ZX005")], expected_version=version)
    with psycopg.connect(url) as conn:
        (later,) = conn.execute("SELECT data FROM events WHERE stream_id = %s AND version = %s",
                                (before["case_id"], version + 1)).fetchone()
        (ref,) = conn.execute("SELECT inquirer_ref FROM pii_cases WHERE case_id = %s",
                              (before["case_id"],)).fetchone()
    assert later["recipient_name"].startswith(f"enc:v1:{ref}:")
    assert shouwen("verify").returncode == 0
    # once cut over, never plain again: a writer with the flag off but the KEK seals ...
    monkeypatch.setenv("SHOUWEN_PII_ENCRYPTION", "false")
    reset_personal_data()
    third = register(intake, token_for("ZX005"), {**OTHER, "inquirer_phone": "13711112222"})
    with psycopg.connect(url) as conn:
        (name,) = conn.execute("SELECT data->>'inquirer_name' FROM events WHERE stream_id = %s",
                               (third["case_id"],)).fetchone()
    assert name.startswith("enc:v1:")
    # ... and one without a KEK refuses, writing nothing
    from services.common.kek import PiiConfigError
    from services.common.pii import PersonalData

    reset_personal_data(PersonalData(None, False))
    with pytest.raises(PiiConfigError, match="no key-encryption key"):
        store.append(before["case_id"], [new_event(
            ResultDelivered(method="post", recipient_name=NAME), subject=before["case_id"],
            actor="staff:ZX005")], expected_version=version + 1)


def test_after_an_api_erasure_the_workers_scrub_their_rows_from_the_event(
        intake, token_for, db_settings, sealed_env) -> None:
    from services.common.eventstore import EventStore
    from services.ledger.worker import Projector

    url = str(db_settings.database_url)
    case = register(intake, token_for("ZX005"))
    rebuild_from_store(url)
    store = EventStore(url)
    with psycopg.connect(url) as conn, conn.transaction():
        Planner(NotifySettings(), lambda: None).handle_batch(
            conn, [r.event for r in store.read_stream(case["case_id"], conn=conn)])
    assert NAME in everywhere(url) and PHONE in everywhere(url)
    done = intake.post("/v1/admin/inquirers/erase", headers=token_for("ZX013"),
                       json={"inquirer": case["receipt_number"], "reason": "本人申请"})
    assert done.status_code == 200, done.text
    erased = [r.event for r in store.read_stream(case["case_id"])][-1:]
    assert erased[0].type == "shouwen.case.inquirer_erased.v1"
    with psycopg.connect(url) as conn, conn.transaction():  # as each worker's batch would
        Projector().handle_batch(conn, erased)
        Planner(NotifySettings(), lambda: None).handle_batch(conn, erased)
    assert NAME not in everywhere(url) and PHONE not in everywhere(url)
