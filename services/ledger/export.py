"""The 台账 of a unit and a period as CSV or XLSX: ``export(rows, fmt, personal) -> bytes``.

    one line per case, in the order of DOMAIN.md section 2: receipt, time, channel, the
    inquirer (name, address, work unit, phone), the problem, the answer given or where it
    was referred, first responder, handler, time limit, replied/completed/closed, outcome

CSV is UTF-8 with a byte-order mark (so spreadsheet programs read the Chinese right);
XLSX is written by openpyxl in write-only mode. A cell that a spreadsheet would take for a
formula (= + - @ at the start) is written with a leading apostrophe (CSV injection). The
inquirer's fields are masked unless ``personal``.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook

from events.personal import mask_text
from services.record.projection import LOCAL

COLUMNS: list[tuple[str, str]] = [
    ("receipt_number", "受理编号 receipt"),
    ("received_at", "受理时间 received"),
    ("channel", "方式 channel"),
    ("inquirer_name", "姓名 inquirer"),
    ("inquirer_address", "地址 address"),
    ("inquirer_work_unit", "工作单位 work unit"),
    ("inquirer_phone", "联系电话 phone"),
    ("problem", "问题 problem"),
    ("answer", "答复 answer"),
    ("referral", "指引办理 referred to"),
    ("first_responder_name", "首问责任人 first responder"),
    ("handler_name", "经办人 handler"),
    ("due_date", "办理期限 time limit"),
    ("replied_at", "答复时间 replied"),
    ("completed_at", "办结时间 completed"),
    ("closed_at", "结案时间 closed"),
    ("outcome", "结果 outcome"),
    ("status", "状态 status"),
]
PERSONAL = {"inquirer_name", "inquirer_address", "inquirer_work_unit", "inquirer_phone"}
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def cell(name: str, value: Any, personal: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if name in PERSONAL and not personal:
        text = mask_text(text)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text


def lines(rows: list[dict[str, Any]], personal: bool,
          mask: frozenset[str] = frozenset()) -> list[list[str]]:
    """``mask``: personal columns masked even when ``personal`` (services/personal/policy)."""
    shown = {name: personal and name not in mask for name, _ in COLUMNS}
    return [[cell(name, row.get(name), shown[name]) for name, _ in COLUMNS] for row in rows]


def export(rows: list[dict[str, Any]], fmt: str, personal: bool, title: str = "台账",
           mask: frozenset[str] = frozenset()) -> bytes:
    header = [label for _, label in COLUMNS]
    body = lines(rows, personal, mask)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(body)
        return out.getvalue().encode("utf-8-sig")
    if fmt == "xlsx":
        book = Workbook(write_only=True)
        sheet = book.create_sheet(title[:31])
        sheet.append(header)
        for line in body:
            sheet.append(line)
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()
    raise ValueError(f"format must be csv or xlsx, not {fmt!r}")
