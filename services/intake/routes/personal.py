"""Personal data over HTTP (services/personal/):

    POST /v1/public/copy             receipt number + access code (+ format json|html): the
                                     citizen's copy of what is held about them for the case;
                                     audited (access_audit action 'copy')
    POST /v1/admin/inquirers/erase   {inquirer, reason}: erase an inquirer's personal data
                                     (centre admin, admin or supervisor; 403 otherwise; 409
                                     under a legal hold; 404 unknown); the ledger and
                                     notification workers scrub their rows when they read
                                     the inquirer_erased events
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import Field

from events.fields import PRINTABLE
from services.common.problems import responses
from services.intake.ratelimit import rate_limited
from services.intake.routes.public import NOT_FOUND, CaseAccess, _open, _Strict
from services.personal.copy import citizen_copy, render_html
from services.personal.erase import ERASERS, ErasureRefused, UnknownInquirer, erase_inquirer
from services.record.audit import record_access
from services.web.deps import PoolDep, RepoDep, StaffDep, WiringDep

router = APIRouter(tags=["personal data"], responses=responses(400))


class CopyIn(CaseAccess):
    format: Literal["json", "html"] = "json"


class EraseIn(_Strict):
    inquirer: Annotated[str, Field(min_length=1, max_length=64,
                                   pattern=r"^[A-Za-z0-9][A-Za-z0-9\-]*$")]
    reason: Annotated[str, Field(min_length=1, max_length=1000, pattern=PRINTABLE)]


@router.post("/v1/public/copy", dependencies=[Depends(rate_limited("public"))],
             responses={**responses(429, 503), 404: {"description": NOT_FOUND},
                        200: {"content": {"text/html": {}}}})
def copy_of_my_data(body: CopyIn, repo: RepoDep, wiring: WiringDep) -> Any:
    with repo.pool.connection() as conn:
        case = _open(repo, conn, body, "copy", wiring.settings)
        copy = citizen_copy(conn, case.state.case_id, case.events, case.state.status.value)
        record_access(conn, reader=f"inquirer:{copy['receipt_number']}", action="copy",
                      via="api", personal_data=True, case_id=case.state.case_id,
                      format=body.format, rows=len(copy["personal_data"]))
    if body.format == "html":
        return HTMLResponse(render_html(copy), headers={"Cache-Control": "no-store"})
    return JSONResponse(copy, headers={"Cache-Control": "no-store"})


@router.post("/v1/admin/inquirers/erase", responses=responses(401, 403, 404, 409))
def erase(body: EraseIn, staff: StaffDep, pool: PoolDep) -> Any:
    if not any(staff.has(r) for r in ERASERS):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "erasing personal data needs the role centre_admin, admin or "
                            "supervisor")
    try:
        report = erase_inquirer(pool, body.inquirer, by=f"staff:{staff.staff.id}",
                                reason=body.reason, via="api")
    except UnknownInquirer as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ErasureRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return {"inquirer_ref": report.inquirer_ref, "cases": report.cases,
            "already_erased": report.already, "summary": report.summary()}
