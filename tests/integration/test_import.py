"""`shouwen import FILE`: a legacy 台账 migrated with its original times and staff (issue 14,
item 7), through the CLI against a real PostgreSQL and the demo directory.

    a CSV and an XLSX of open and closed cases      exit 0, one transaction, the right events
    the same file again                              exit 0, nothing written (deterministic ids)
    a file with bad rows                             exit 2 naming each row and reason; nothing
                                                     written, not even the good rows
    deadline-watch on the imported cases             the old open one is overdue at once; the
                                                     closed one has no clock; no notification
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from openpyxl import Workbook

from services.calendar.store import load_packaged_if_empty
from services.deadline_watch.service import build, rebuild
from services.notification.planner import Planner
from services.notification.settings import NotifySettings
from tests.integration.intake_helpers import event_count, events_of

ROOT = Path(__file__).resolve().parents[2]
HEADER = ["receipt_number", "received_at", "channel", "first_responder_id", "inquirer_name",
          "inquirer_phone", "inquirer_address", "matter", "matter_type_code", "handler_id",
          "due_date", "answer", "replied_at", "closed_at"]
ROWS = [
    # an old letter nobody answered, received before National Day
    ["OLD-2026-0001", "2026-09-29 10:00", "letter", "ZX005", "刘敏", "", "示范市和平路12号",
     "来信反映小区路灯长期不亮", "", "", "", "", "", ""],
    # open, handled at RSJ under a catalogue matter
    ["OLD-2026-0002", "2026-11-20T09:30:00+08:00", "visit", "ZX006", "陈大伟", "13912345678",
     "", "补办社保卡", "RSJ-SBK-01", "RSJ008", "", "", "", ""],
    # answered and closed long ago
    ["OLD-2026-0003", "2026-08-03", "phone", "ZX005", "王小明", "0935-8123456", "",
     "咨询养老保险转移", "", "", "", "已电话告知所需材料及办理地点", "2026-08-04 15:00",
     "2026-08-05 10:00"],
]


def shouwen(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([HEADER, *rows])
    return path


def case_of(url: str, receipt: str) -> tuple[str, str]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT case_id, status FROM case_index WHERE receipt_number = %s",
                           (receipt,)).fetchone()
    assert row is not None, receipt
    return row[0], row[1]


def test_a_legacy_ledger_is_migrated_once_with_its_original_times_and_staff(
        database_url, demo_directory, tmp_path):
    url = database_url
    load_packaged_if_empty(url)  # the official 2026 schedule
    file = write_csv(tmp_path / "台账.csv", ROWS)
    r = shouwen(url, "import", str(file))
    assert r.returncode == 0, r.stderr
    assert "imported 3 case(s) (2 open, 1 closed" in r.stdout

    old_id, old_status = case_of(url, "OLD-2026-0001")
    events = events_of(url, old_id)
    assert [e["type"] for e in events] == ["received"] and old_status == "received"
    received = events[0]["data"]
    assert received["received_at"] == "2026-09-29T02:00:00Z"
    assert "台账.csv" in received["imported_from"] and "row 2" in received["imported_from"]
    assert events[0]["actor"] == "staff:ZX005"

    handled, status = case_of(url, "OLD-2026-0002")
    accepted = events_of(url, handled)[1]
    assert status == "in_handling" and accepted["actor"] == "staff:RSJ008"
    assert accepted["data"]["matter_type_code"] == "RSJ-SBK-01"
    closed, status = case_of(url, "OLD-2026-0003")
    assert status == "closed"
    assert [e["type"] for e in events_of(url, closed)] == [
        "received", "replied", "completed", "closed"]
    with psycopg.connect(url) as conn:
        times = dict(conn.execute("SELECT type, time FROM events WHERE stream_id = %s",
                                  (closed,)).fetchall())
        sources = {s for (s,) in conn.execute(
                "SELECT DISTINCT source FROM events WHERE type LIKE %s", ("shouwen.case.%",))}
    assert times["shouwen.case.replied.v1"] == datetime(2026, 8, 4, 7, 0, tzinfo=UTC)
    assert sources == {"urn:shouwen:import"}

    before = event_count(url)  # again: found, nothing written
    again = shouwen(url, "import", str(file))
    assert again.returncode == 0 and "imported 0 case(s)" in again.stdout
    assert "3 already imported" in again.stdout and event_count(url) == before

    # deadline-watch: the unanswered letter is overdue at once, the closed case's clocks ended
    watch, pool = build(url, now=lambda: datetime.now(UTC))
    with pool:
        rebuild(watch)
        while watch.tick():
            pass
        with pool.connection() as conn, conn.transaction():
            stream = [r.event for r in watch.repo.store.read_stream(old_id, conn=conn)]
            planner = Planner(NotifySettings(), lambda: None)
            planner.handle_batch(conn, [e for e in stream if e.source == "urn:shouwen:import"])
            count = "SELECT count(*) FROM notification_deliveries"
            assert conn.execute(count).fetchone() == (0,)  # no receipt SMS for old letters
            planner.handle_batch(conn, [e for e in stream if e.source != "urn:shouwen:import"])
            assert conn.execute(count).fetchone()[0] > 0  # the breach is the staff's news
    fired = {e["data"]["obligation"] for e in events_of(url, old_id)
             if e["type"] == "deadline_breached"}
    assert fired == {"forward", "reply"}
    # counted from the original receipt (29 Sep): due at the end of Thu 8 Oct, the first
    # working day after the National Day holiday
    [forward] = [e["data"] for e in events_of(url, old_id) if e["type"] == "deadline_set"
                 and e["data"]["obligation"] == "forward"]
    assert forward["due_at"] == "2026-10-08T16:00:00Z"
    # the closed case's clocks are history: met on time, nothing breached, nothing pending
    history = [e for e in events_of(url, closed) if e["type"].startswith("deadline_")]
    assert not [e for e in history if e["type"] == "deadline_breached"]
    assert all(e["data"]["on_time"] for e in history if e["type"] == "deadline_met")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM deadline_timers WHERE case_id = %s"
                            " AND state = 'pending'", (closed,)).fetchone() == (0,)


def test_an_xlsx_ledger_with_chinese_headers_is_read_too(database_url, demo_directory,
                                                         tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["回执号", "收件时间", "渠道", "首问责任人", "来访人", "联系电话", "反映事项"])
    sheet.append(["XL-1", datetime(2026, 11, 2, 9, 15), "phone", "ZX005", "赵六",
                  "13700000000", "咨询医保报销"])
    path = tmp_path / "ledger.xlsx"
    book.save(path)
    r = shouwen(database_url, "import", str(path))
    assert r.returncode == 0, r.stderr
    case_id, _ = case_of(database_url, "XL-1")
    [received] = events_of(database_url, case_id)
    assert received["data"]["received_at"] == "2026-11-02T01:15:00Z"


def test_bad_rows_exit_2_naming_each_row_and_nothing_is_imported(database_url, demo_directory,
                                                                 tmp_path):
    bad = [ROWS[0],
           ["B-2", "2026-09-29 10:00", "fax", "ZX005", "甲", "", "", "事", "", "", "", "", "",
            ""],
           ["B-3", "2026-09-29 10:00", "visit", "NOBODY", "乙", "", "", "事", "", "", "", "", "",
            ""],
           ["B-4", "2099-01-01 10:00", "visit", "ZX005", "丙", "", "", "事", "", "", "", "", "",
            ""],
           ["B-5", "2026-09-29 10:00", "visit", "ZX005", "丁", "", "", "事", "", "", "",
            "答复了", "", ""],
           ["OLD-2026-0001", "2026-09-29 10:00", "visit", "ZX005", "戊", "", "", "事", "", "",
            "", "", "", ""]]
    before = event_count(database_url)
    r = shouwen(database_url, "import", str(write_csv(tmp_path / "bad.csv", bad)))
    assert r.returncode == 2, r.stdout
    for expected in ("row 3: channel: 'fax'", "row 4: first_responder_id: no staff member "
                     "'NOBODY'", "row 5: received_at: lies in the future",
                     "row 6: replied_at: required with an answer",
                     "row 7: receipt_number 'OLD-2026-0001' is also on row 2"):
        assert expected in r.stderr, (expected, r.stderr)
    assert "nothing imported" in r.stderr and event_count(database_url) == before

    header_only = tmp_path / "cols.csv"
    header_only.write_text("receipt_number,when\nX,1\n", encoding="utf-8")
    r = shouwen(database_url, "import", str(header_only))
    assert r.returncode == 2 and "row 1: unknown column 'when'" in r.stderr
    r = shouwen(database_url, "import", str(tmp_path / "missing.csv"))
    assert r.returncode == 2 and "missing.csv" in r.stderr
