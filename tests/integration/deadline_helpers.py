"""What the deadline-watch integration tests share: a civil-time clock the tests move, the
demo's window clerk, and a staff action appended to the store as intake would (the tests then
hand it to deadline-watch's consumer, or not, as the case under test needs).
"""

from __future__ import annotations

from datetime import UTC, datetime

from events import CloudEvent, new_event
from events.case import CaseReceived
from events.fields import Channel, StaffMember
from events.registry import EventPayload
from services.deadline_watch.calendar_port import CIVIL_TIME
from services.deadline_watch.watch import DeadlineWatch
from services.domain.case import CaseState

HANDLER = StaffMember(id="ZX005", name="李娜", duty="窗口受理", contact="0935-8100105")


def civil(y: int, m: int, d: int, h: int = 10, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=CIVIL_TIME).astimezone(UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def received(case_id: str, channel: Channel = Channel.phone) -> CaseReceived:
    """A social-security-card inquiry taken by the demo's window clerk ZX005."""
    return CaseReceived(
        channel=channel, receipt_number=f"R-{case_id}", unit_id="ZWFWZX", matter="补办社保卡",
        inquirer_name="张三", first_responder_id="ZX005", first_responder_name="李娜",
        first_responder_duty="窗口受理", first_responder_contact="0935-8100105")


def stored(w: DeadlineWatch, case_id: str, at: datetime, payload: EventPayload,
           actor: str = "staff:ZX005") -> CloudEvent:
    """A staff action appended to the case's stream, not yet consumed by deadline-watch."""
    event = new_event(payload, subject=case_id, actor=actor, time=at)
    with w.repo.pool.connection() as conn, conn.transaction():
        try:
            state = w.repo.load(case_id, conn)
        except LookupError:
            state = CaseState(case_id=case_id)
        w.repo.append(state, [event], conn)
    return event
