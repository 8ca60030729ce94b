"""Citizens, no login: the receipt number and access code open their own case, nothing else.

    POST /v1/public/status      the case as the inquirer may see it (CaseStatusPublic)
    POST /v1/public/rating      rate the service on five levels, once    -> case.rated.v2
    POST /v1/public/complaints  complain about a staff member or unit    -> case.complaint_filed
    POST /v1/public/materials   supply materials the one-time notice listed, with a note and
                                attachment references; the handler is told in-app
                                (at most MATERIALS_PER_HOUR per case) -> case.materials_supplied

POST, so the access code stays out of URLs and access logs. A wrong receipt number and a
wrong access code get the same 404 (no oracle) and are counted; every call is rate-limited
per client address. What the inquirer sees is a whitelist: the steps in plain words with
their times, what they were told (answer, missing materials, where to go, who is
responsible: name, duty, contact) and never staff ids, internal notes or anyone's personal
data. Writes are appended with the actor ``inquirer:<receipt number>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Response, status
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from events import CloudEvent, EventPayload, new_event, upcast
from events.case import MaterialsSupplied
from events.case_outcome import CaseRated, ComplaintFiled, SatisfactionLevel
from events.fields import PRINTABLE, Channel, Name, ShortText, Text
from services.cases.repository import CaseRepository
from services.common.eventstore import WrongExpectedVersion, read_stream_async
from services.common.problems import Problem, responses
from services.common.settings import Settings
from services.common.text import clean_tree
from services.domain.case import CaseState, fold
from services.intake.commands import CONFLICT_ATTEMPTS
from services.intake.ratelimit import (
    RateLimited,
    locked_for,
    locked_for_async,
    rate_limited,
    right_code,
    right_code_async,
    wrong_code,
    wrong_code_async,
)
from services.web.deps import DirectoryDep, RepoDep, Wiring, WiringDep

router = APIRouter(prefix="/v1/public", tags=["public"],
                   dependencies=[Depends(rate_limited("public"))],
                   responses={**responses(400), 429: {
                       "model": Problem, "description": "too many requests from this address "
                                                        "(Retry-After says when to try again)"}})

ACCESS_DENIED = Counter(
    "shouwen_public_access_denied_total",
    "Citizen requests refused because the receipt number and access code did not match",
    ["endpoint"],
)
NOT_FOUND = "no case matches this receipt number and access code"
ReceiptNumber = Annotated[str, Field(min_length=1, max_length=32,
                                     pattern=r"^[A-Za-z0-9][A-Za-z0-9\-]*$")]
AccessCode = Annotated[str, Field(min_length=1, max_length=32, pattern=PRINTABLE)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _text_hygiene(cls, data: Any) -> Any:
        return clean_tree(data)  # services/common/text.py, as every other way in


class CaseAccess(_Strict):
    receipt_number: ReceiptNumber
    access_code: AccessCode


class RatingIn(CaseAccess):
    level: SatisfactionLevel
    comment: Annotated[str, Field(min_length=1, max_length=1000, pattern=PRINTABLE)] | None = None
    anonymous: bool = False


class ComplaintIn(CaseAccess):
    """Against whom: a role in this case (default: the responsible person), or one of the
    staff who held it by id; ``unit`` means the unit the case is in."""

    against: Literal["responsible", "first_responder", "handler", "unit"] = "responsible"
    against_staff_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    complaint: Text
    contact_name: Name | None = None
    contact_phone: Annotated[str, Field(pattern=r"^\+?[0-9][0-9 \-]{5,20}[0-9]$")] | None = None


class MaterialsIn(CaseAccess):
    """Materials the one-time notice listed, by name, now supplied; what the inquirer wants
    the handler to know, and references to the files (e.g. an upload service's ids)."""

    materials: Annotated[list[ShortText], Field(min_length=1, max_length=100)]
    note: Text | None = None
    attachments: Annotated[list[ShortText], Field(max_length=20)] = []


MATERIALS_PER_HOUR = 3  # per case: the handler is told each time, so no flood


class StaffContact(BaseModel):
    name: str
    duty: str
    contact: str


class ExternalBodyContact(BaseModel):
    name: str
    address: str
    phone: str
    contact_person: str


class Step(BaseModel):
    step: str
    description: str
    time: datetime
    note: str | None = None


class CaseStatusPublic(BaseModel):
    receipt_number: str
    status: str
    status_text: str
    opened_at: datetime
    updated_at: datetime
    due_date: date | None
    responsible: StaffContact
    handler: StaffContact | None
    referred_to: ExternalBodyContact | None
    missing_materials: list[str]
    rated: bool
    steps: list[Step]


class Filed(BaseModel):
    receipt_number: str
    event: str
    time: datetime


STATUS_TEXT = {
    "received": "已登记，正在分派", "awaiting_materials": "待补齐材料",
    "awaiting_handoff": "正在转交经办人", "in_handling": "办理中",
    "referred_out": "已告知到其他单位办理", "replied": "已答复", "completed": "已办结",
    "delivered": "办理结果已送达", "closed": "已结案",
}
# The steps an inquirer sees, in plain words. Internal deliberations (transfer and
# extension requests and refusals) are left out; their outcomes are shown.
STEP_TEXT = {
    "received": "登记受理", "classified": "确定办理事项", "accepted": "经办人受理",
    "one_time_notice_given": "一次性告知所需材料", "materials_supplied": "收到补交材料",
    "referred": "转交办理", "handoff_accepted": "经办人接手办理", "escalated": "报请领导协调",
    "transfer_approved": "更换责任人", "extension_granted": "延长办理期限", "replied": "答复",
    "completed": "办结", "result_delivered": "送达办理结果", "closed": "结案",
    "rated": "满意度评价", "complaint_filed": "收到投诉", "inquirer_erased": "个人信息已删除",
}


@dataclass(frozen=True)
class _Case:
    state: CaseState
    events: list[CloudEvent]


def _open(repo: CaseRepository, conn: psycopg.Connection, access: CaseAccess,
          endpoint: str, settings: Settings) -> _Case:
    receipt = access.receipt_number
    locked = locked_for(conn, receipt)
    if locked:
        raise RateLimited(locked, "too many wrong access codes for this receipt number")
    case_id = repo.find_by_receipt(conn, receipt, access.access_code)
    if case_id is None:
        ACCESS_DENIED.labels(endpoint).inc()
        wrong_code(repo.pool, receipt, settings.access_code_attempts,
                   settings.access_code_lockout_seconds)
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    right_code(conn, receipt)
    events = [r.event for r in repo.store.read_stream(case_id, conn=conn)]
    return _Case(fold(case_id, events), events)


async def _open_async(repo: CaseRepository, conn: psycopg.AsyncConnection[Any],
                      access: CaseAccess, endpoint: str, settings: Settings) -> _Case:
    """``_open`` on an autocommit connection: the same checks, in the same order."""
    receipt = access.receipt_number
    locked = await locked_for_async(conn, receipt)
    if locked:
        raise RateLimited(locked, "too many wrong access codes for this receipt number")
    case_id = await repo.find_by_receipt_async(conn, receipt, access.access_code)
    if case_id is None:
        ACCESS_DENIED.labels(endpoint).inc()
        await wrong_code_async(conn, receipt, settings.access_code_attempts,
                               settings.access_code_lockout_seconds)
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    await right_code_async(conn, receipt)
    events = [r.event for r in await read_stream_async(conn, case_id)]
    return _Case(fold(case_id, events), events)


@router.post("/status", response_model=CaseStatusPublic,
             responses={404: {"description": NOT_FOUND}})
def case_status(body: CaseAccess, repo: RepoDep, wiring: WiringDep) -> CaseStatusPublic:
    with repo.pool.connection() as conn:
        case = _open(repo, conn, body, "status", wiring.settings)
    return public_view(case.state, case.events)


@router.post("/rating", response_model=Filed, status_code=status.HTTP_201_CREATED,
             responses={404: {"description": NOT_FOUND},
                        409: {"description": "not ratable now, or rated already"}})
async def rate(body: RatingIn, wiring: WiringDep) -> Response:
    payload = CaseRated(level=body.level, comment=body.comment, anonymous=body.anonymous)
    return await _append_as_inquirer(wiring, body, "rate", lambda _case: payload)


@router.post("/complaints", response_model=Filed, status_code=status.HTTP_201_CREATED,
             responses={**responses(409, 503), 404: {"description": NOT_FOUND}, 400: {
                 "model": Problem, "description": "against_staff_id did not hold this case, "
                                                  "or the body could not be parsed"}})
async def complain(body: ComplaintIn, directory: DirectoryDep, wiring: WiringDep) -> Response:
    def complaint(case: _Case) -> ComplaintFiled:
        if _complaint_open(case.events):
            raise HTTPException(status.HTTP_409_CONFLICT, "a complaint about this case is "
                                "still open: a new one can be filed once it is concluded")
        staff_id = _complained_about(case, body)
        person = directory.person(staff_id) if staff_id else None
        s = case.state
        unit_id = person.unit.id if person else (s.units[-1] if s.units else s.unit_id)
        return ComplaintFiled(
            against_staff_id=staff_id, against_unit_id=unit_id,
            against_staff_name=person.staff.name if person else None,
            complaint=body.complaint, channel=Channel.online,
            complainant_name=body.contact_name, complainant_phone=body.contact_phone,
        )

    return await _append_as_inquirer(wiring, body, "complain", complaint)


def _complaint_open(events: list[CloudEvent]) -> bool:
    """One open complaint per case: the last one filed is open until an accountability
    procedure after it is closed."""
    kinds = [e.type.split(".")[2] for e in events]
    if "complaint_filed" not in kinds:
        return False
    last = len(kinds) - 1 - kinds[::-1].index("complaint_filed")
    return "accountability_closed" not in kinds[last:]


@router.post("/materials", response_model=Filed, status_code=status.HTTP_201_CREATED,
             responses={404: {"description": NOT_FOUND},
                        409: {"description": "no materials are awaited now"},
                        400: {"model": Problem,
                              "description": "a material the one-time notice did not list, "
                                             "or the body could not be parsed"}})
async def supply_materials(body: MaterialsIn, wiring: WiringDep) -> Response:
    def supplied(case: _Case) -> MaterialsSupplied:
        s = case.state
        unlisted = [m for m in body.materials if m not in s.notice_materials]
        if unlisted:
            raise HTTPException(status.HTTP_400_BAD_REQUEST,
                                "materials: the one-time notice did not list "
                                + "、".join(unlisted))
        since = datetime.now(UTC) - timedelta(hours=1)
        recent = [e for e in case.events if e.type == MaterialsSupplied.event_type
                  and e.actor.startswith("inquirer:") and e.time > since]
        if len(recent) >= MATERIALS_PER_HOUR:
            wait = int((recent[0].time - since).total_seconds()) + 1
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                                f"at most {MATERIALS_PER_HOUR} submissions of materials per "
                                "case an hour", headers={"Retry-After": str(wait)})
        have = set(body.materials).union(*(e.data["materials"] for e in case.events
                                           if e.type == MaterialsSupplied.event_type))
        outstanding = sorted(s.notice_materials - have)
        return MaterialsSupplied(
            materials=body.materials, outstanding=outstanding, complete=not outstanding,
            note=body.note, attachments=body.attachments,
            check_by_id=s.handler_id or s.responsible_id)

    return await _append_as_inquirer(wiring, body, "materials_supplied", supplied)


async def _append_as_inquirer(w: Wiring, body: CaseAccess, action: str,
                              make: Callable[[_Case], EventPayload]) -> Response:
    """On an autocommit connection of the asyncio pool (no thread hand-off): the case
    opened as ``_open`` does, then the event and its index row in ONE statement that goes
    in only at the version read. The inquirer gives no expected version: a background
    append meanwhile is redone (reload, re-check, re-append), as ``commands.retrying``."""
    assert w.apool is not None, "the app's lifespan opens it"
    for left in range(CONFLICT_ATTEMPTS - 1, -1, -1):
        async with w.apool.connection() as conn:
            case = await _open_async(w.repo, conn, body, action, w.settings)
            case.state.require(action)
            payload = make(case)
            receipt = str(case.state.receipt_number)
            event = new_event(payload, subject=case.state.case_id, actor=f"inquirer:{receipt}",
                              source="urn:shouwen:public", correlationid=case.events[0].id)
            try:
                await w.repo.append_async(case.state, event, conn)
            except WrongExpectedVersion:
                if left == 0:
                    raise
                continue
        filed = Filed(receipt_number=receipt, event=event.type, time=event.time)
        return Response(filed.model_dump_json(), status.HTTP_201_CREATED,
                        media_type="application/json")
    raise AssertionError("unreachable")


def _complained_about(case: _Case, body: ComplaintIn) -> str | None:
    """The staff member complained about (None: the unit); only someone who held the case,
    so the endpoint cannot be used to file complaints against arbitrary staff."""
    s = case.state
    if body.against_staff_id is not None:
        if body.against_staff_id not in s.participants:
            raise HTTPException(status.HTTP_400_BAD_REQUEST,
                                "against_staff_id: not a staff member who held this case")
        return body.against_staff_id
    if body.against == "unit":
        return None
    return {"responsible": s.responsible_id, "first_responder": s.first_responder_id,
            "handler": s.handler_id}[body.against]


def public_view(state: CaseState, events: list[CloudEvent]) -> CaseStatusPublic:
    """The case as its inquirer may see it: only the whitelisted facts of each step."""
    responsible = handler = None
    body: ExternalBodyContact | None = None
    missing: list[str] = []
    steps: list[Step] = []
    for e in map(upcast, events):
        name, d = e.type.split(".")[2], e.data
        if name == "received":
            responsible = _contact(d, "first_responder_")
        elif name in ("accepted", "handoff_accepted"):
            handler = StaffContact(**_who(d["handler"]))
        elif name == "transfer_approved":
            responsible = handler = StaffContact(**_who(d["new_responsible"]))
        elif name == "one_time_notice_given":
            missing = [m["name"] for m in d["missing_materials"]]
        elif name == "materials_supplied":
            missing = list(d.get("outstanding", []))
        elif name == "referred" and d["referral"]["kind"] == "external":
            r = d["referral"]
            body = ExternalBodyContact(name=r["body_name"], address=r["address"],
                                       phone=r["contact_phone"],
                                       contact_person=r["contact_person"])
        if name in STEP_TEXT:
            steps.append(Step(step=name, description=STEP_TEXT[name], time=e.time,
                              note=_note(name, d)))
    assert responsible is not None, "a case starts with its received event"
    return CaseStatusPublic(
        receipt_number=str(state.receipt_number), status=state.status.value,
        status_text=STATUS_TEXT[state.status.value], opened_at=events[0].time,
        updated_at=events[-1].time, due_date=state.due_date, responsible=responsible,
        handler=handler if handler != responsible else None, referred_to=body,
        missing_materials=missing if state.status.value == "awaiting_materials" else [],
        rated=state.rated, steps=steps,
    )


def _who(member: dict[str, Any]) -> dict[str, Any]:
    return {k: member[k] for k in ("name", "duty", "contact")}


def _contact(d: dict[str, Any], prefix: str) -> StaffContact:
    return StaffContact(name=d[prefix + "name"], duty=d[prefix + "duty"],
                        contact=d[prefix + "contact"])


def _note(name: str, d: dict[str, Any]) -> str | None:
    """What the inquirer was told at this step (never internal plans, notes or summaries)."""
    if name == "one_time_notice_given":
        return "所需材料：" + "、".join(m["name"] for m in d["missing_materials"])
    if name == "referred":
        r = d["referral"]
        why = f"（{d['reason']}）" if d.get("reason") else ""  # the explanation given to them
        if r["kind"] == "external":
            return (f"请到{r['body_name']}办理：{r['address']}，电话 {r['contact_phone']}，"
                    f"联系人 {r['contact_person']}{why}")
        h = r["handler"]
        return f"转交{r['section_name']}，经办人 {h['name']}，电话 {h['contact']}{why}"
    if name == "transfer_approved":
        n = d["new_responsible"]
        return f"新的责任人：{n['name']}（{n['duty']}），电话 {n['contact']}"
    if name == "extension_granted":
        return f"办理期限延至 {d['new_due_date']}：{d['reason']}"
    if name == "accepted":
        return f"办理期限 {d['time_limit']['due_date']}"
    if name == "replied":
        return str(d["answer"])
    if name == "rated":
        return str(d["level"])
    if name == "materials_supplied":
        return "收到：" + "、".join(d["materials"]) + (
            "；尚缺：" + "、".join(d["outstanding"]) if d.get("outstanding") else "")
    return None
