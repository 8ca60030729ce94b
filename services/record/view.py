"""The ledger's read model of one case, and the columns it is stored in.

    CaseView    everything case_summary and ledger_rows hold for a case, nothing more,
                so a row read back is the state (``from_rows``) and a rebuild folding from
                scratch arrives at the very same rows
    Event       what the projection reads of an event (a CloudEvent, or rebuild's row)
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from services.domain.case import Status
from services.record.sevenhaves import HAVES

LOCAL = ZoneInfo("Asia/Shanghai")  # due dates are the official calendar's local dates


@dataclass
class CaseView:
    case_id: str
    unit_id: str
    receipt_number: str
    channel: str
    received_at: datetime
    first_responder_id: str
    first_responder_name: str
    problem: str
    version: int
    updated_at: datetime
    status: str = Status.received.value
    responsible_id: str = ""
    responsible_name: str = ""
    handler_id: str | None = None
    handler_name: str | None = None
    section_id: str | None = None
    matter_type_code: str | None = None
    matter_type_name: str | None = None
    # every matter in force, oldest first: {code, name, by (classified|accepted), at, version}
    matter_history: list[dict[str, Any]] = field(default_factory=list)
    units: tuple[str, ...] = ()
    participants: tuple[str, ...] = ()
    escalated_to: tuple[str, ...] = ()
    awaiting_handoff_to: str | None = None
    due_date: date | None = None
    deadlines: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_due_at: datetime | None = None
    overdue: bool = False
    escalated: bool = False
    on_time: bool | None = None
    rating: str | None = None
    complaint_count: int = 0
    seven_haves: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(HAVES, False))
    missing_haves: tuple[str, ...] = HAVES
    replied_at: datetime | None = None
    completed_at: datetime | None = None
    closed_at: datetime | None = None
    inquirer_name: str | None = None
    inquirer_address: str | None = None
    inquirer_work_unit: str | None = None
    inquirer_phone: str | None = None
    answer: str | None = None
    referral: str | None = None
    outcome: str | None = None
    summary: str | None = None

    def summary_row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in SUMMARY_COLUMNS}

    def ledger_row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in LEDGER_COLUMNS}

    @classmethod
    def from_rows(cls, summary: dict[str, Any], ledger: dict[str, Any]) -> CaseView:
        values = {**ledger, **summary}
        for name in ("units", "participants", "escalated_to", "missing_haves"):
            values[name] = tuple(values[name] or ())
        return cls(**{f.name: values[f.name] for f in fields(cls)})


SUMMARY_COLUMNS = (
    "case_id", "unit_id", "receipt_number", "channel", "status", "first_responder_id",
    "first_responder_name", "responsible_id", "responsible_name", "handler_id", "handler_name",
    "section_id", "matter_type_code", "matter_type_name", "matter_history", "units", "participants",
    "escalated_to", "awaiting_handoff_to", "due_date", "deadlines", "next_due_at", "overdue",
    "escalated", "on_time", "rating", "complaint_count", "seven_haves", "missing_haves",
    "received_at", "replied_at", "completed_at", "closed_at", "version", "updated_at",
)
LEDGER_COLUMNS = (
    "case_id", "unit_id", "receipt_number", "channel", "received_at", "inquirer_name",
    "inquirer_address", "inquirer_work_unit", "inquirer_phone", "problem", "answer",
    "referral", "first_responder_name", "handler_name", "due_date", "replied_at",
    "completed_at", "closed_at", "outcome", "summary", "status",
)


class Event(Protocol):
    """What the projection reads of an event: a CloudEvent, or rebuild's lighter row."""

    @property
    def type(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def time(self) -> datetime: ...
    @property
    def sequence(self) -> int | None: ...
    @property
    def data(self) -> dict[str, Any]: ...
