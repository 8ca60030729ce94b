"""Staff HTTP API: register an inquiry, list and read cases, act on a case.

    POST /v1/cases                          register; the caller is the first responder (201)
    GET  /v1/cases?status=&mine=&limit=&offset=     the cases the caller may see
    GET  /v1/cases/{case_id}                the case and its events
    POST /v1/cases/{case_id}/<action>       one event per call (DOMAIN.md section 3)

A thin shell over ``services.intake.commands``: one transaction per request (the staff
actions: sync routes, run in the thread pool; one ``ActingDep`` for the caller, the
directory and the wiring; the summary answered as it is, not validated again). Errors:
404 outside the caller's scope (as if absent), 403 seen but not theirs to act on,
409 not allowed in the current status or the case moved on, 422 a broken rule or bad input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, HTTPException, Path, Query, Response, status
from pydantic import BaseModel

from services.calendar.book import CalendarBook
from services.common.problems import responses
from services.domain.case import CaseState, Status
from services.domain.errors import CommandRefused, NotPermitted
from services.intake import commands, models
from services.intake import matter as matters
from services.intake.queries import CaseDetail, CasePage, CaseSummary, case_detail, list_cases
from services.intake.queries import summary as summarise
from services.web.deps import (
    Acting,
    ActingDep,
    DirectoryDep,
    PoolDep,
    RepoDep,
    StaffDep,
    Wiring,
    WiringDep,
)

router = APIRouter(prefix="/v1/cases", tags=["cases"], responses=responses(401, 403, 503))

CaseId = Annotated[str, Path(pattern=r"^C-[0-9a-f]{32}$", description="the case id")]


class ReceiptOut(BaseModel):
    """The receipt (收件回执): what the inquirer is told at once."""

    case_id: str
    receipt_number: str
    access_code: str
    first_responder_name: str
    first_responder_duty: str
    first_responder_contact: str
    unit_name: str


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except CommandRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except NotPermitted as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ReceiptOut,
             responses=responses(400, 422))
async def register(body: models.RegisterInquiry, staff: StaffDep, w: WiringDep) -> Response:
    # async on an autocommit connection: no thread hop, one statement, committed on return;
    # the receipt is already what ReceiptOut says, so it is not validated again
    assert w.apool is not None, "the app's lifespan opens it"
    with _refusals():
        async with w.apool.connection() as conn:
            receipt = await commands.register_async(
                w.repo, conn, staff, body, w.settings.received_date_max_age_days)
    return Response(orjson.dumps(asdict(receipt)), status.HTTP_201_CREATED,
                    {"Location": f"{router.prefix}/{receipt.case_id}"}, "application/json")


@router.get("", response_model=CasePage)
def list_visible(
    staff: StaffDep, pool: PoolDep, directory: DirectoryDep,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    mine: bool = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> CasePage:
    with pool.connection() as conn:
        return list_cases(conn, directory, staff, status=status_, mine=mine, limit=limit,
                          offset=offset)


@router.get("/{case_id}", response_model=CaseDetail, responses=responses(404, 422))
def read(case_id: CaseId, staff: StaffDep, pool: PoolDep, repo: RepoDep,
         directory: DirectoryDep) -> CaseDetail:
    with pool.connection() as conn:
        return case_detail(repo, conn, directory, staff, case_id)


Command = Callable[..., CaseState]


def _act(command: Command, case_id: str, body: Any, staff: Any, pool: Any, repo: Any,
         directory: Any) -> CaseSummary:
    with _refusals(), pool.connection() as conn:
        state = command(repo, conn, directory, staff, case_id, body)
    return summarise(state, directory)


def _act_spec(spec: commands.Spec, case_id: str, body: models.Action, who: Acting) -> Response:
    """A staff action in one transaction (``commands.act``; a sync route: the thread pool).
    The summary is what CaseSummary says: it is not validated a second time."""
    w = who.wiring
    with _refusals(), w.pool.connection() as conn:
        state = commands.act(w.repo, conn, who.directory, who.staff, case_id, body, spec)
    return Response(summarise(state, who.directory).model_dump_json(),
                    media_type="application/json")


def _route(path: str, summary: str) -> Callable[[Callable[..., Any]], Any]:
    return router.post(f"/{{case_id}}/{path}", response_model=CaseSummary, summary=summary,
                       responses=responses(400, 404, 409, 422))


def _calendar_book(w: Wiring) -> CalendarBook:
    with w.pool.connection() as conn:
        return w.calendars.get(conn)


@_route("accept", "Accept: handle it under the catalogue's time limit")
def accept(case_id: CaseId, body: models.Accept, who: ActingDep) -> Response:
    book = who.wiring.calendars.fresh()
    if book is None:
        book = _calendar_book(who.wiring)
    return _act_spec(commands.accept_spec(who.directory, who.staff, body, book),
                     case_id, body, who)


@_route("one-time-notice", "One-time notice of ALL missing materials")
def one_time_notice(case_id: CaseId, body: models.OneTimeNotice, who: ActingDep) -> Response:
    return _act_spec(commands.one_time_notice_spec(who.directory, who.staff, body),
                     case_id, body, who)


@_route("materials-supplied", "The inquirer supplied materials")
def materials_supplied(case_id: CaseId, body: models.MaterialsSupplied,
                             who: ActingDep) -> Response:
    return _act_spec(commands.materials_supplied_spec(who.directory, who.staff, body),
                     case_id, body, who)


@_route("refer", "Refer: to a section's named handler, or to an outside body")
def refer(case_id: CaseId, body: Annotated[models.Refer, Body()], who: ActingDep) -> Response:
    return _act_spec(commands.refer_spec(who.directory, who.staff, body),
                     case_id, body, who)


@_route("accept-handoff", "The named handler takes the case")
def accept_handoff(case_id: CaseId, who: ActingDep,
                         body: models.AcceptHandoff | None = None) -> Response:
    body = body or models.AcceptHandoff()
    return _act_spec(commands.accept_handoff_spec(who.directory, who.staff, body),
                     case_id, body, who)


@_route("escalate", "Escalate to a leader (请示领导)")
def escalate(case_id: CaseId, body: models.Escalate, who: ActingDep) -> Response:
    return _act_spec(commands.escalate_spec(who.directory, who.staff, body),
                     case_id, body, who)


@_route("transfer-request", "Ask to transfer the responsibility")
def transfer_request(case_id: CaseId, body: models.TransferRequest,
                           who: ActingDep) -> Response:
    return _act_spec(commands.request_transfer_spec(who.directory, who.staff, body),
                     case_id, body, who)


@_route("transfer-decision", "Centre leadership decides a transfer")
def transfer_decision(case_id: CaseId, body: models.TransferDecision,
                            who: ActingDep) -> Response:
    return _act_spec(commands.decide_transfer_spec(who.directory, who.staff, body),
                     case_id, body, who)


@_route("extension-request", "Ask the leadership for more time")
def extension_request(case_id: CaseId, body: models.ExtensionRequest, staff: StaffDep,
                      pool: PoolDep, repo: RepoDep, directory: DirectoryDep) -> CaseSummary:
    return _act(commands.request_extension, case_id, body, staff, pool, repo, directory)


@_route("extension-decision", "A leader grants or refuses it")
def extension_decision(case_id: CaseId, body: models.ExtensionDecision, staff: StaffDep,
                       pool: PoolDep, repo: RepoDep, directory: DirectoryDep) -> CaseSummary:
    return _act(commands.decide_extension, case_id, body, staff, pool, repo, directory)


@_route("reply", "Reply to the inquirer (brush-offs refused)")
def reply(case_id: CaseId, body: models.Reply, who: ActingDep) -> Response:
    return _act_spec(commands.reply_spec(who.directory, who.staff, body),
                     case_id, body, who)


@_route("complete", "Handling finished")
def complete(case_id: CaseId, body: models.Complete, who: ActingDep) -> Response:
    return _act_spec(commands.complete_spec(who.directory, who.staff, body),
                     case_id, body, who)


@_route("deliver", "Result delivered (pick-up record when picked up)")
def deliver(case_id: CaseId, body: models.Deliver, who: ActingDep) -> Response:
    return _act_spec(commands.deliver_spec(who.directory, who.staff, body),
                     case_id, body, who)


@_route("close", "Close the case")
def close(case_id: CaseId, body: models.Close, who: ActingDep) -> Response:
    return _act_spec(commands.close_spec(who.directory, who.staff, body),
                     case_id, body, who)


@_route("matter", "Choose the matter: one of routing's suggestions, or a correction (why)")
def choose_matter(case_id: CaseId, body: models.ChooseMatter, staff: StaffDep, pool: PoolDep,
                  repo: RepoDep, directory: DirectoryDep) -> CaseSummary:
    return _act(matters.choose_matter, case_id, body, staff, pool, repo, directory)
