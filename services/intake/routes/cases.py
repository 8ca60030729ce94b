"""Staff HTTP API: register an inquiry, list and read cases, act on a case.

    POST /v1/cases                          register; the caller is the first responder (201)
    GET  /v1/cases?status=&mine=&limit=&offset=     the cases the caller may see
    GET  /v1/cases/{case_id}                the case and its events
    POST /v1/cases/{case_id}/<action>       one event per call (DOMAIN.md section 3)

A thin shell over ``services.intake.commands``: one transaction per request. Errors:
404 outside the caller's scope (as if absent), 403 seen but not theirs to act on,
409 not allowed in the current status or the case moved on, 422 a broken rule or bad input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from functools import partial
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, HTTPException, Path, Query, Response, status
from pydantic import BaseModel

from services.common.problems import responses
from services.domain.case import CaseState, Status
from services.domain.errors import CommandRefused, NotPermitted
from services.intake import commands, models
from services.intake import matter as matters
from services.intake.queries import CaseDetail, CasePage, CaseSummary, case_detail, list_cases
from services.intake.queries import summary as summarise
from services.web.deps import DirectoryDep, PoolDep, RepoDep, StaffDep, WiringDep

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


def _route(path: str, summary: str) -> Callable[[Callable[..., Any]], Any]:
    return router.post(f"/{{case_id}}/{path}", response_model=CaseSummary, summary=summary,
                       responses=responses(400, 404, 409, 422))


@_route("accept", "Accept: handle it under the catalogue's time limit")
def accept(case_id: CaseId, body: models.Accept, staff: StaffDep, pool: PoolDep,
           repo: RepoDep, directory: DirectoryDep, w: WiringDep) -> CaseSummary:
    return _act(partial(commands.accept, calendars=w.calendars), case_id, body, staff, pool,
                repo, directory)


@_route("one-time-notice", "One-time notice of ALL missing materials")
def one_time_notice(case_id: CaseId, body: models.OneTimeNotice, staff: StaffDep,
                    pool: PoolDep, repo: RepoDep, directory: DirectoryDep) -> CaseSummary:
    return _act(commands.one_time_notice, case_id, body, staff, pool, repo, directory)


@_route("materials-supplied", "The inquirer supplied materials")
def materials_supplied(case_id: CaseId, body: models.MaterialsSupplied, staff: StaffDep,
                       pool: PoolDep, repo: RepoDep, directory: DirectoryDep) -> CaseSummary:
    return _act(commands.materials_supplied, case_id, body, staff, pool, repo, directory)


@_route("refer", "Refer: to a section's named handler, or to an outside body")
def refer(case_id: CaseId, body: Annotated[models.Refer, Body()], staff: StaffDep,
          pool: PoolDep, repo: RepoDep, directory: DirectoryDep) -> CaseSummary:
    return _act(commands.refer, case_id, body, staff, pool, repo, directory)


@_route("accept-handoff", "The named handler takes the case")
def accept_handoff(case_id: CaseId, staff: StaffDep, pool: PoolDep, repo: RepoDep,
                   directory: DirectoryDep,
                   body: models.AcceptHandoff | None = None) -> CaseSummary:
    return _act(commands.accept_handoff, case_id, body or models.AcceptHandoff(), staff, pool,
                repo, directory)


@_route("escalate", "Escalate to a leader (请示领导)")
def escalate(case_id: CaseId, body: models.Escalate, staff: StaffDep, pool: PoolDep,
             repo: RepoDep, directory: DirectoryDep) -> CaseSummary:
    return _act(commands.escalate, case_id, body, staff, pool, repo, directory)


@_route("transfer-request", "Ask to transfer the responsibility")
def transfer_request(case_id: CaseId, body: models.TransferRequest, staff: StaffDep,
                     pool: PoolDep, repo: RepoDep, directory: DirectoryDep) -> CaseSummary:
    return _act(commands.request_transfer, case_id, body, staff, pool, repo, directory)


@_route("transfer-decision", "Centre leadership decides a transfer")
def transfer_decision(case_id: CaseId, body: models.TransferDecision, staff: StaffDep,
                      pool: PoolDep, repo: RepoDep, directory: DirectoryDep) -> CaseSummary:
    return _act(commands.decide_transfer, case_id, body, staff, pool, repo, directory)


@_route("extension-request", "Ask the leadership for more time")
def extension_request(case_id: CaseId, body: models.ExtensionRequest, staff: StaffDep,
                      pool: PoolDep, repo: RepoDep, directory: DirectoryDep) -> CaseSummary:
    return _act(commands.request_extension, case_id, body, staff, pool, repo, directory)


@_route("extension-decision", "A leader grants or refuses it")
def extension_decision(case_id: CaseId, body: models.ExtensionDecision, staff: StaffDep,
                       pool: PoolDep, repo: RepoDep, directory: DirectoryDep) -> CaseSummary:
    return _act(commands.decide_extension, case_id, body, staff, pool, repo, directory)


@_route("reply", "Reply to the inquirer (brush-offs refused)")
def reply(case_id: CaseId, body: models.Reply, staff: StaffDep, pool: PoolDep, repo: RepoDep,
          directory: DirectoryDep) -> CaseSummary:
    return _act(commands.reply, case_id, body, staff, pool, repo, directory)


@_route("complete", "Handling finished")
def complete(case_id: CaseId, body: models.Complete, staff: StaffDep, pool: PoolDep,
             repo: RepoDep, directory: DirectoryDep) -> CaseSummary:
    return _act(commands.complete, case_id, body, staff, pool, repo, directory)


@_route("deliver", "Result delivered (pick-up record when picked up)")
def deliver(case_id: CaseId, body: models.Deliver, staff: StaffDep, pool: PoolDep,
            repo: RepoDep, directory: DirectoryDep) -> CaseSummary:
    return _act(commands.deliver, case_id, body, staff, pool, repo, directory)


@_route("close", "Close the case")
def close(case_id: CaseId, body: models.Close, staff: StaffDep, pool: PoolDep, repo: RepoDep,
          directory: DirectoryDep) -> CaseSummary:
    return _act(commands.close, case_id, body, staff, pool, repo, directory)


@_route("matter", "Choose the matter: one of routing's suggestions, or a correction (why)")
def choose_matter(case_id: CaseId, body: models.ChooseMatter, staff: StaffDep, pool: PoolDep,
                  repo: RepoDep, directory: DirectoryDep) -> CaseSummary:
    return _act(matters.choose_matter, case_id, body, staff, pool, repo, directory)
