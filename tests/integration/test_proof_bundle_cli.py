"""`shouwen bundle` / `verify-bundle` / `checkpoint` end to end, as subprocesses, on a real
PostgreSQL with the demo directory: the bundle is written, audited, verified offline, and
every kind of bad input or damage gets its exit status."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import orjson
import psycopg
import pytest

from events import new_event
from events.case import CaseReceived
from events.case_outcome import CaseReplied
from services.common.eventstore import EventStore
from services.relay.sequencer import sequence_pass
from tests.integration.test_proof_checkpoints import append

SHOUWEN = str(Path(sys.executable).parent / "shouwen")


def case_at_the_window(url: str, case_id: str, replies: int, unit: str = "ZWFWZX",
                       staff: str = "ZX005") -> None:
    """A walk-in case at a unit's window (the centre's: first responder ZX005), replies."""
    es = EventStore(url)
    version = es.stream_version(case_id)
    events = [] if version else [new_event(CaseReceived(
        channel="window", receipt_number=f"R-{case_id}", unit_id=unit,
        matter="补办社保卡", inquirer_name="张三", inquirer_phone="13800000000",
        first_responder_id=staff, first_responder_name="李娜",
        first_responder_duty="窗口工作人员", first_responder_contact="0935-8100105",
    ), subject=case_id, actor=f"staff:{staff}")]
    events += [new_event(CaseReplied(answer=f"答复 {i}", channel="window"), subject=case_id,
                         actor=f"staff:{staff}") for i in range(replies)]
    es.append(case_id, events, expected_version=version)
    with psycopg.connect(url, autocommit=True) as conn:
        while sequence_pass(conn):
            pass


@pytest.fixture
def run(database_url, demo_directory, tmp_path):
    env = dict(os.environ, DATABASE_URL=database_url, SHOUWEN_DATA_DIR=str(tmp_path / "data"))
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)

    def shouwen(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SHOUWEN, *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False, cwd=tmp_path)

    return shouwen


def test_bundle_written_audited_and_verified_offline(run, database_url, tmp_path):
    append(database_url, 20, streams=3)
    case_at_the_window(database_url, "W-1", 9)
    first = run("checkpoint")
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "data" / "proof" / "checkpoint").read_text().splitlines()[1] == "31"
    key = run("checkpoint", "export-key")
    assert key.returncode == 0 and key.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "pub.pem").write_text(key.stdout)
    append(database_url, 3, streams=3)
    case_at_the_window(database_url, "W-1", 1)  # not covered by checkpoint #31

    made = run("bundle", "W-1", "--by", "ZX005", "--out", "w1.zip")
    assert made.returncode == 0, made.stderr
    assert "11 event(s) with inclusion proofs to checkpoint #35" in made.stdout  # a fresh one
    with zipfile.ZipFile(tmp_path / "w1.zip") as zf:
        assert sorted(zf.namelist()) == [
            "bundle.json", "checkpoint.note", "history.html", "history.pdf", "proof.html",
            "public-key.txt"]
        doc = orjson.loads(zf.read("bundle.json"))
        pdf = zf.read("history.pdf")
        history, proof = zf.read("history.html").decode(), zf.read("proof.html").decode()
    assert doc["created_by"] == "staff:ZX005" and doc["history_source"] == "ledger"
    assert len(doc["history"]["steps"]) == 11 and doc["history"]["personal_data"] is True
    assert "张三" in history and "李娜" in history and "答复 8" in history
    assert "13800000000" in proof and "case replied" in proof and doc["case_id"] in proof
    assert pdf.startswith(b"%PDF-") and b"Dispute bundle, case W-1" in pdf
    with psycopg.connect(database_url) as conn:
        audit = conn.execute("SELECT reader, action, via, case_id, rows FROM access_audit"
                             ).fetchall()
    assert audit == [("staff:ZX005", "bundle", "cli", "W-1", 11)]

    good = run("verify-bundle", "w1.zip", "--key", "pub.pem")
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.startswith("OK: case W-1: 11 event(s)")

    doc["events"][4]["envelope"]["actor"] = "staff:ZX002"
    (tmp_path / "tampered.json").write_bytes(orjson.dumps(doc))
    bad = run("verify-bundle", "tampered.json", "--key", "pub.pem")
    assert bad.returncode == 1
    assert "(version 5): altered" in bad.stdout, bad.stdout


def test_verify_bundle_exit_codes_for_a_wrong_key_and_unreadable_input(run, database_url,
                                                                       tmp_path):
    case_at_the_window(database_url, "W-2", 2)
    assert run("bundle", "W-2", "--by", "ZX005", "--out", "c0.zip").returncode == 0
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from services.proof.note import public_pem

    (tmp_path / "other.pem").write_text(public_pem(Ed25519PrivateKey.generate().public_key()))
    wrong = run("verify-bundle", "c0.zip", "--key", "other.pem")
    assert wrong.returncode == 1 and "signed by key" in wrong.stdout
    (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04 not really")
    assert run("verify-bundle", "junk.zip", "--key", "other.pem").returncode == 2
    assert run("verify-bundle", "missing.zip", "--key", "other.pem").returncode == 2
    assert run("verify-bundle", "c0.zip", "--key", "c0.zip").returncode == 2


def test_without_the_signing_key_later_events_are_listed_not_proven(run, database_url,
                                                                   tmp_path):
    case_at_the_window(database_url, "W-4", 2)
    assert run("bundle", "W-4", "--by", "ZX005", "--out", "first.zip").returncode == 0
    (tmp_path / "pub.pem").write_text(run("checkpoint", "export-key").stdout)
    case_at_the_window(database_url, "W-4", 1)  # after the newest checkpoint
    made = run("bundle", "W-4", "--by", "ZX005", "--key", "pub.pem", "--out", "later.zip")
    assert made.returncode == 0, made.stderr
    assert "3 event(s) with inclusion proofs to checkpoint #" in made.stdout
    assert "1 later not yet covered" in made.stdout
    checked = run("verify-bundle", "later.zip", "--key", "pub.pem")
    assert checked.returncode == 0, checked.stdout
    assert "1 later event(s) not yet in a checkpoint, not proven" in checked.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["W-3", "--by", "NOBODY"], "not a staff member of the directory"),
    (["W-3", "--by", "ZX005"], "not found within the scope of staff ZX005"),
    (["W-3", "--by", "ZX012"], "may not see the inquirer's personal data"),  # centre admin
    (["W-9", "--by", "RSJ009"], "case 'W-9' has no events"),
    (["bad case", "--by", "RSJ009"], "is not a case id"),
    (["W-3", "--by", "RSJ009", "--out", "nowhere/x.zip"], "no such directory"),
])
def test_bundle_refuses_bad_input_and_writes_nothing(run, database_url, tmp_path, args,
                                                     message):
    case_at_the_window(database_url, "W-3", 1, unit="RSJ", staff="RSJ009")
    assert run("bundle", "W-3", "--by", "RSJ010", "--out", "ok.zip").returncode == 0
    (tmp_path / "ok.zip").unlink()  # a colleague of the same unit may; the others below not
    result = run("bundle", *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not list(tmp_path.glob("*.zip"))
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM access_audit").fetchone() == (1,)
