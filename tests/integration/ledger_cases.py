"""Cases with varied lifecycles for the ledger tests, appended straight to the event store.

    lifecycle(case_id, i)  the events of case number ``i`` (one of six shapes, by i % 6):
        0 referred inside, handed off, accepted, notice, materials, replied, met, completed,
          delivered, closed, rated                     (every have but none missing)
        1 accepted, deadline breached, escalated, extension granted, replied late
        2 external referral (the inquirer told where to go), rated v1 (upcast), closed
        3 transfer of responsibility approved, complaint filed, accountability opened
        4 just received (six haves missing)
        5 classified by routing, accepted on the spot, replied
    append_cases(url, n)   n such cases in ZWFWZX (centre) / RSJ, in one transaction each
People are the demo directory's (tests/integration/intake_helpers.py lists them).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from events import CloudEvent, new_event
from events.accountability import AccountabilityOpened
from events.case import (
    CaseAccepted,
    CaseClassified,
    CaseReceived,
    ExtensionGranted,
    MaterialsSupplied,
    OneTimeNoticeGiven,
    TimeLimit,
)
from events.case_outcome import (
    CaseClosed,
    CaseCompleted,
    CaseRated,
    CaseRatedV1,
    CaseReplied,
    ComplaintFiled,
    ResultDelivered,
)
from events.case_referral import CaseEscalated, CaseReferred, HandoffAccepted, TransferApproved
from events.deadline import DeadlineBreached, DeadlineMet, DeadlineSet
from events.fields import StaffMember
from events.registry import EventPayload
from services.common.eventstore import EventStore

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
LINA = StaffMember(id="ZX005", name="李娜", duty="综合受理窗口", contact="0935-8100105")
ZHAO = StaffMember(id="ZX006", name="赵鹏", duty="综合受理窗口", contact="0935-8100106")
XIE = StaffMember(id="RSJ008", name="谢丹丹", duty="社保卡经办", contact="0935-8200108")
CHIEF = {"id": "ZX004", "role": "section_head", "name": "张晓燕"}
PRINCIPAL = {"id": "ZX001", "role": "principal_leader", "name": "周卫东"}


def received(i: int, unit: str = "ZWFWZX", by: StaffMember = LINA) -> CaseReceived:
    return CaseReceived(channel="visit", receipt_number=f"T-{i:05d}", unit_id=unit,
                        matter=f"第{i}件：办理社保卡需要什么材料", inquirer_name=f"王{i}",
                        inquirer_phone=f"139{i:08d}", inquirer_address="示范市和平路12号",
                        inquirer_work_unit="示范市第一中学", first_responder_id=by.id,
                        first_responder_name=by.name, first_responder_duty=by.duty,
                        first_responder_contact=by.contact)


def accepted(by: StaffMember, due: date = date(2026, 11, 6), **kw: object) -> CaseAccepted:
    return CaseAccepted(handler=by, time_limit=TimeLimit(working_days=4, due_date=due),
                        handling_plan="材料齐全后当场办理", **kw)  # type: ignore[arg-type]


def lifecycle(case_id: str, i: int) -> list[CloudEvent]:
    due = T0 + timedelta(days=4)
    shape = i % 6
    steps: list[tuple[EventPayload, str]] = []
    if shape == 0:
        steps = [
            (received(i), "staff:ZX005"),
            (CaseReferred(referral={"kind": "internal", "unit_id": "RSJ", "section_id": "RSJ-SBK",
                                    "section_name": "社会保障卡服务科", "handler": XIE}),
             "staff:ZX005"),
            (HandoffAccepted(handler=XIE, section_id="RSJ-SBK"), "staff:RSJ008"),
            (accepted(XIE, section_id="RSJ-SBK"), "staff:RSJ008"),
            (DeadlineSet(obligation="complete", due_at=due, calendar_id="CN",
                         limit_working_days=4, responsible_id="RSJ008"),
             "service:deadline-watch"),
            (OneTimeNoticeGiven(missing_materials=[{"name": "身份证复印件"}],
                                notified_via="phone"), "staff:RSJ008"),
            (MaterialsSupplied(materials=["身份证复印件"], complete=True), "staff:RSJ008"),
            (CaseReplied(answer="社保卡已制好，请来领取", channel="phone"), "staff:RSJ008"),
            (DeadlineMet(obligation="complete", due_at=due, on_time=True),
             "service:deadline-watch"),
            (CaseCompleted(outcome="resolved", summary="已制卡"), "staff:RSJ008"),
            (ResultDelivered(method="post", recipient_name=f"王{i}"), "staff:RSJ008"),
            (CaseClosed(reason="completed"), "staff:ZX005"),
            (CaseRated(level="非常满意", anonymous=False), f"inquirer:T-{i:05d}"),
        ]
    elif shape == 1:
        steps = [
            (received(i), "staff:ZX005"),
            (accepted(LINA), "staff:ZX005"),
            (DeadlineSet(obligation="reply", due_at=due, calendar_id="CN", limit_working_days=3),
             "service:deadline-watch"),
            (DeadlineBreached(obligation="reply", due_at=due), "service:deadline-watch"),
            (CaseEscalated(leader=CHIEF, reason="time_limit_breached", ladder_step=1),
             "service:deadline-watch"),
            (ExtensionGranted(approver=CHIEF, new_due_date=date(2026, 11, 13),
                              reason="材料需外调"), "staff:ZX004"),
            (CaseReplied(answer="已答复", channel="visit"), "staff:ZX005"),
        ]
    elif shape == 2:
        steps = [
            (received(i), "staff:ZX005"),
            (CaseReferred(referral={"kind": "external", "body_name": "省人社厅",
                                    "address": "兰州市城关区1号", "contact_phone": "0931-1",
                                    "contact_person": "刘主任"}, reason="属省级事权"),
             "staff:ZX005"),
            (CaseRatedV1(score=4), f"inquirer:T-{i:05d}"),
            (CaseClosed(reason="completed"), "staff:ZX005"),
        ]
    elif shape == 3:
        steps = [
            (received(i), "staff:ZX005"),
            (TransferApproved(approver=PRINCIPAL, previous_responsible_id="ZX005",
                              new_responsible=ZHAO), "staff:ZX001"),
            (ComplaintFiled(against_staff_id="ZX005", complaint="推诿", channel="phone"),
             f"inquirer:T-{i:05d}"),
            (AccountabilityOpened(procedure_id=f"P{i}", summary="首问推诿",
                                  against_staff_ids=["ZX005"]), "staff:ZX011"),
        ]
    elif shape == 4:
        steps = [(received(i, unit="RSJ", by=XIE), "staff:RSJ008")]
    else:
        steps = [
            (received(i), "staff:ZX005"),
            (CaseClassified(matter_type_code="RSJ-SBK-01", matter_type_name="社保卡申领",
                            jurisdiction="own_duties", handling_unit_id="ZWFWZX",
                            method="catalogue", confidence=0.9), "service:routing"),
            (accepted(LINA, on_the_spot=True), "staff:ZX005"),
            (CaseReplied(answer="当场办结", channel="visit"), "staff:ZX005"),
        ]
    return [new_event(p, subject=case_id, actor=actor, time=T0 + timedelta(hours=n + i))
            for n, (p, actor) in enumerate(steps)]


def append_cases(url: str, n: int, prefix: str = "case") -> list[str]:
    store = EventStore(url)
    ids = []
    for i in range(n):
        case_id = f"{prefix}-{i:05d}"
        store.append(case_id, lifecycle(case_id, i), expected_version=0)
        ids.append(case_id)
    return ids
