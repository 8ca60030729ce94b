"""Reading a legacy 台账: rows of a CSV or XLSX file, each checked into a ``LedgerRow``.

    read_rows(path) -> list[(row number, {column: text})]     the header is row 1
    parse(rows, directory) -> list[LedgerRow], or LedgerFileError naming every bad row

Columns (header names; Chinese headers of the usual paper ledger are accepted too):

    receipt_number*     回执号     the legacy receipt number (the case's id derives from it)
    received_at*        收件时间   when it came in: ISO date-time, naive = Asia/Shanghai;
                                   a bare date is 09:00 that day
    channel*            渠道       visit | phone | letter | online | hotline | window
    first_responder_id* 首问责任人  a staff id of the directory in force
    inquirer_name*      来访人     inquirer_phone 联系电话, inquirer_address 地址,
                                   inquirer_work_unit 工作单位
    matter*             反映事项
    matter_type_code    事项编码   a catalogue code (its time limit)
    handler_id          经办人     who handles it (accepted by them at accepted_at)
    accepted_at         受理时间   default: received_at
    due_date            办结期限   default: the catalogue's limit, else 15 working days
    answer              答复内容   replied_at 答复时间 (needed with an answer)
    closed_at           办结时间   a closed case; outcome 办理结果 resolved|explained|declined

Pure: no I/O but the file read. Every reason names the row (as a spreadsheet numbers it)
and the column.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from events.case_outcome import Outcome
from events.fields import Channel
from services.directory.index import DirectoryIndex

LOCAL = ZoneInfo("Asia/Shanghai")
REQUIRED = ("receipt_number", "received_at", "channel", "first_responder_id",
            "inquirer_name", "matter")
OPTIONAL = ("inquirer_phone", "inquirer_address", "inquirer_work_unit", "matter_type_code",
            "handler_id", "accepted_at", "due_date", "answer", "replied_at", "closed_at",
            "outcome")
ALIASES = {
    "回执号": "receipt_number", "收件时间": "received_at", "渠道": "channel",
    "首问责任人": "first_responder_id", "来访人": "inquirer_name", "联系电话": "inquirer_phone",
    "地址": "inquirer_address", "工作单位": "inquirer_work_unit", "反映事项": "matter",
    "事项编码": "matter_type_code", "经办人": "handler_id", "受理时间": "accepted_at",
    "办结期限": "due_date", "答复内容": "answer", "答复时间": "replied_at",
    "办结时间": "closed_at", "办理结果": "outcome",
}
MAX_ROWS = 100_000
_ID_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


class LedgerFileError(ValueError):
    """The file cannot be imported; ``problems`` are (row, reason), row 0 for the file."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"row {r}: {why}" if r else why for r, why in problems))


@dataclass(frozen=True)
class LedgerRow:
    row: int
    receipt_number: str
    received_at: datetime
    channel: Channel
    first_responder_id: str
    inquirer_name: str
    matter: str
    inquirer_phone: str | None = None
    inquirer_address: str | None = None
    inquirer_work_unit: str | None = None
    matter_type_code: str | None = None
    handler_id: str | None = None
    accepted_at: datetime | None = None
    due_date: date | None = None
    answer: str | None = None
    replied_at: datetime | None = None
    closed_at: datetime | None = None
    outcome: Outcome | None = None


def read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """The data rows of a .csv (UTF-8, with or without BOM) or .xlsx file, keyed by the
    header's column names (aliases resolved), blank rows skipped."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            table = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
        elif suffix in (".xlsx", ".xlsm"):
            table = _xlsx(path)
        else:
            raise LedgerFileError([(0, f"{path.name}: not a .csv or .xlsx file")])
    except OSError as exc:
        raise LedgerFileError([(0, f"{path}: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise LedgerFileError([(0, f"{path.name}: not UTF-8 text")]) from None
    if not table:
        raise LedgerFileError([(0, f"{path.name}: empty")])
    header = [ALIASES.get(_text(h) or "", _text(h) or "") for h in table[0]]
    unknown = [h for h in header if h and h not in REQUIRED + OPTIONAL]
    missing = [c for c in REQUIRED if c not in header]
    if unknown or missing:
        why = ([f"unknown column {h!r}" for h in unknown]
               + [f"missing column {c!r}" for c in missing])
        raise LedgerFileError([(1, "; ".join(why))])
    if len(table) - 1 > MAX_ROWS:
        raise LedgerFileError([(0, f"more than {MAX_ROWS} rows: split the file")])
    rows = []
    for n, cells in enumerate(table[1:], start=2):
        values = {h: _text(c) for h, c in zip(header, cells, strict=False) if h}
        if any(v for v in values.values()):
            rows.append((n, {k: v for k, v in values.items() if v}))
    return rows


def _xlsx(path: Path) -> list[list[Any]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is no workbook
        raise LedgerFileError([(0, f"{path.name}: not a readable .xlsx file ({exc})")]) from None
    try:
        sheet = book.worksheets[0]
        return [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def parse(rows: list[tuple[int, dict[str, str]]], directory: DirectoryIndex,
          now: datetime | None = None) -> list[LedgerRow]:
    """Every row checked; LedgerFileError lists every bad row (and a receipt number given
    twice), so a file is fixed in one pass."""
    now = now or datetime.now(UTC)
    problems: list[tuple[int, str]] = []
    out: list[LedgerRow] = []
    seen: dict[str, int] = {}
    for n, values in rows:
        try:
            row = _row(n, values, directory, now)
        except ValueError as exc:
            problems.append((n, str(exc)))
            continue
        if row.receipt_number in seen:
            problems.append((n, f"receipt_number {row.receipt_number!r} is also on row "
                                f"{seen[row.receipt_number]}"))
            continue
        seen[row.receipt_number] = n
        out.append(row)
    if problems:
        raise LedgerFileError(problems)
    if not out:
        raise LedgerFileError([(0, "no rows to import")])
    return out


def _row(n: int, v: dict[str, str], d: DirectoryIndex, now: datetime) -> LedgerRow:
    for column in REQUIRED:
        if not v.get(column):
            raise ValueError(f"{column}: required")
    receipt = v["receipt_number"]
    if len(receipt) > 64 or not set(receipt) <= _ID_CHARS or not receipt[0].isalnum():
        raise ValueError("receipt_number: letters, digits, '.', '_' or '-' (at most 64)")
    try:
        channel = Channel(v["channel"])
    except ValueError:
        raise ValueError(f"channel: {v['channel']!r} is not one of "
                         + ", ".join(c.value for c in Channel)) from None
    received = _instant(v, "received_at")
    assert received is not None
    if received > now:
        raise ValueError("received_at: lies in the future")
    for column in ("first_responder_id", "handler_id"):
        if v.get(column) and d.person(v[column]) is None:
            raise ValueError(f"{column}: no staff member {v[column]!r} in the directory in force")
    code = v.get("matter_type_code")
    if code is not None and code not in d.matters:
        raise ValueError(f"matter_type_code: {code!r} is not in the matter catalogue")
    times = {c: _instant(v, c) for c in ("accepted_at", "replied_at", "closed_at")}
    for column, at in times.items():
        if at is not None and not received <= at <= now:
            raise ValueError(f"{column}: must lie between received_at and now")
    if v.get("answer") and times["replied_at"] is None:
        raise ValueError("replied_at: required with an answer")
    if times["replied_at"] is not None and not v.get("answer"):
        raise ValueError("answer: required with replied_at")
    if times["closed_at"] is not None and not (v.get("handler_id") or v.get("answer")):
        raise ValueError("closed_at: a closed case names its handler_id or its answer")
    if (v.get("accepted_at") or v.get("due_date")) and not v.get("handler_id"):
        raise ValueError("handler_id: required with accepted_at or due_date")
    outcome = None
    if v.get("outcome"):
        try:
            outcome = Outcome(v["outcome"])
        except ValueError:
            raise ValueError(f"outcome: {v['outcome']!r} is not one of "
                             + ", ".join(o.value for o in Outcome)) from None
    return LedgerRow(
        row=n, receipt_number=receipt, received_at=received, channel=channel,
        first_responder_id=v["first_responder_id"], inquirer_name=v["inquirer_name"],
        matter=v["matter"], inquirer_phone=v.get("inquirer_phone"),
        inquirer_address=v.get("inquirer_address"),
        inquirer_work_unit=v.get("inquirer_work_unit"), matter_type_code=code,
        handler_id=v.get("handler_id"), accepted_at=times["accepted_at"],
        due_date=_day(v, "due_date"), answer=v.get("answer"), replied_at=times["replied_at"],
        closed_at=times["closed_at"], outcome=outcome)


def _instant(v: dict[str, str], column: str) -> datetime | None:
    text = v.get(column)
    if text is None:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(9), LOCAL).astimezone(UTC)
        at = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError:
        raise ValueError(f"{column}: {text!r} is not a date-time (2026-09-29 10:00)") from None
    return (at if at.tzinfo else at.replace(tzinfo=LOCAL)).astimezone(UTC)


def _day(v: dict[str, str], column: str) -> date | None:
    text = v.get(column)
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"{column}: {text!r} is not a date (2026-10-15)") from None
