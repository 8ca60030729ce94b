"""``shouwen deadline-watch policy FILE`` and ``--rebuild`` against the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from events import new_event
from events.case import CaseReceived, Channel
from services.cases.repository import CaseRepository
from services.cli import app
from services.common.settings import get_settings
from services.deadline_watch.calendar_port import CIVIL_TIME
from services.deadline_watch.service import build
from services.domain.case import CaseState


@pytest.fixture
def shouwen(database_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, ["deadline-watch", *args])
    get_settings.cache_clear()


def books(url: str) -> list[tuple[str, dict]]:
    with psycopg.connect(url) as conn:
        return [(r[0], r[1]) for r in conn.execute(
            "SELECT loaded_by, book FROM deadline_policies ORDER BY load_id")]


def test_a_unit_policy_loaded_from_yaml_sets_that_units_reply_limit(shouwen, database_url,
                                                                    tmp_path: Path):
    file = tmp_path / "policy.yaml"
    file.write_text("units:\n  ZWFWZX: {reply_working_days: 7}\n", encoding="utf-8")
    result = shouwen("policy", str(file), "--actor", "staff:ADMIN01")
    assert result.exit_code == 0, result.output
    assert "1 unit(s)" in result.output
    [(by, book)] = books(database_url)
    assert by == "staff:ADMIN01" and book["units"]["ZWFWZX"]["reply_working_days"] == 7
    watch, pool = build(database_url)
    received = new_event(CaseReceived(
        channel=Channel.letter, receipt_number="R-1", unit_id="ZWFWZX", matter="咨询",
        inquirer_name="张三", first_responder_id="ZX005", first_responder_name="李娜",
        first_responder_duty="窗口受理", first_responder_contact="0935-8100105"),
        subject="C-P1", actor="staff:ZX005",
        time=datetime(2026, 11, 2, 10, tzinfo=CIVIL_TIME).astimezone(UTC))
    with pool, pool.connection() as conn, conn.transaction():
        watch.repo.append(CaseState(case_id="C-P1"), [received], conn)
        clocks = watch.refresh(conn, "C-P1")
    assert clocks is not None
    assert clocks.clocks["reply"].limit_working_days == 7  # type: ignore[index]


@pytest.mark.parametrize(("text", "field"), [
    ("units:\n  ZWFWZX: {reply_working_days: -2}\n", "units.ZWFWZX.reply_working_days"),
    ("default: {warning: {mode: sometimes}}\n", "default.warning.mode"),
    ("defaults: {}\n", "'defaults'"),
    ("units: [1, 2]\n", "'units'"),
    ("- not\n- a mapping\n", "mapping"),
])
def test_a_bad_policy_file_exits_2_naming_the_field_and_writes_nothing(
        shouwen, database_url, tmp_path: Path, text: str, field: str):
    file = tmp_path / "policy.yaml"
    file.write_text(text, encoding="utf-8")
    result = shouwen("policy", str(file))
    assert result.exit_code == 2
    assert field in result.output
    assert books(database_url) == []


def test_a_missing_policy_file_exits_2(shouwen, tmp_path: Path):
    result = shouwen("policy", str(tmp_path / "absent.yaml"))
    assert result.exit_code == 2 and "absent.yaml" in result.output


def test_rebuild_recomputes_every_cases_timers(shouwen, database_url):
    with ConnectionPool(database_url, min_size=1, max_size=1) as pool, pool.connection() as c:
        repo = CaseRepository(pool)
        for i in range(3):
            event = new_event(CaseReceived(
                channel=Channel.phone, receipt_number=f"R-{i}", unit_id="ZWFWZX", matter="咨询",
                inquirer_name="张三", first_responder_id="ZX005", first_responder_name="李娜",
                first_responder_duty="窗口受理", first_responder_contact="0935-8100105"),
                subject=f"C-RB{i}", actor="staff:ZX005")
            repo.append(CaseState(case_id=f"C-RB{i}"), [event], c)
    result = shouwen("--rebuild")
    assert result.exit_code == 0, result.output
    assert "rebuilt the timers of 3 case(s)" in result.output
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT count(DISTINCT case_id) FROM deadline_timers"
                            " WHERE state = 'pending'").fetchone()
    assert rows == (3,)
