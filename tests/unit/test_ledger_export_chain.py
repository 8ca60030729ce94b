"""The 台账 file formats and a case's hash-chain check: pure, no I/O."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

from openpyxl import load_workbook

from events import new_event
from events.case_outcome import CaseReplied
from services.common.eventstore import GENESIS, RecordedEvent, chain_hash
from services.ledger.export import COLUMNS, export
from services.record.chain import check_chain

ROW = {"receipt_number": "T-1", "received_at": datetime(2026, 11, 2, 16, 30, tzinfo=UTC),
       "channel": "visit", "inquirer_name": "王小明", "inquirer_phone": "13912345678",
       "problem": "=HYPERLINK(\"http://evil\")", "answer": "@SUM(A1)",
       "due_date": date(2026, 11, 6), "status": "replied"}


def test_csv_has_the_ledger_columns_beijing_times_and_no_formulas() -> None:
    text = export([ROW], "csv", personal=True).decode("utf-8-sig")
    header, line = list(csv.reader(io.StringIO(text)))
    assert header == [label for _, label in COLUMNS]
    cells = dict(zip([name for name, _ in COLUMNS], line, strict=True))
    assert cells["received_at"] == "2026-11-03 00:30"  # 16:30 UTC is past midnight in Beijing
    assert cells["problem"].startswith("'=") and cells["answer"] == "'@SUM(A1)"
    assert cells["inquirer_name"] == "王小明" and cells["due_date"] == "2026-11-06"
    assert cells["referral"] == ""


def test_xlsx_holds_the_same_cells_and_masks_the_inquirer_for_other_readers() -> None:
    book = load_workbook(io.BytesIO(export([ROW], "xlsx", personal=False)))
    sheet = book.active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    cells = dict(zip([name for name, _ in COLUMNS], rows[1], strict=True))
    assert cells["inquirer_name"] == "王**" and cells["inquirer_phone"] == "139****5678"
    assert cells["problem"].startswith("'=")  # stored as text, never as a formula


def chain(n: int) -> list[RecordedEvent]:
    out, prev = [], GENESIS
    for v in range(1, n + 1):
        e = new_event(CaseReplied(answer=f"答复{v}", channel="phone"), subject="c-1",
                      actor="staff:ZX005").with_sequence(v)
        digest = chain_hash(prev, e)
        out.append(RecordedEvent(e, v, digest, prev, datetime.now(UTC)))
        prev = digest
    return out


def test_an_intact_chain_and_its_commit_log_are_reported_intact() -> None:
    events = chain(4)
    check = check_chain(events, [(r.event.sequence or 0, r.hash) for r in events])
    assert check.ok and check.events_checked == 4 and check.head_version == 4
    assert check.head_hash == events[-1].hash.hex() and "intact" in check.summary()


def test_altered_removed_and_cut_off_events_are_named() -> None:
    events = chain(4)
    committed = [(r.event.sequence or 0, r.hash) for r in events]
    altered = events[1].event.model_copy(update={"data": {"answer": "改", "channel": "phone"}})
    tampered = [events[0], RecordedEvent(altered, 2, events[1].hash, events[1].prev_hash,
                                         events[1].recorded_at), *events[2:]]
    assert check_chain(tampered, committed).problems == [
        "version 2 was altered: its content does not match its hash"]
    removed = check_chain([events[0], *events[2:]], committed)
    assert "version 3 follows version 1 (an event is missing or out of order)" in removed.problems
    assert "version 2 is in the commit log but not in the store (removed)" in removed.problems
    cut = check_chain(events[:3], committed)
    assert not cut.ok and "BROKEN" in cut.summary() and "version 4" in cut.summary()
