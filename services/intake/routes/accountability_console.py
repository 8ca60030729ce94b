"""The supervisors' console pages for accountability procedures (server-rendered, no script).

    GET  /console/accountability                 procedures: stage and due date; open one
    POST /console/accountability/open            receipt number + summary -> a procedure
    GET  /console/accountability/{pid}           the procedure, its steps, forms for the next
    POST /console/accountability/{pid}/{step}    one step of services.accountability.commands

Same session, CSRF and refusals as the case console (routes/console.py): a refused form
comes back filled in, with the reason and the status code of the JSON API. The sanctioned
person sees their procedure page and may ask for a review there.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, status
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from events.accountability import AGGRAVATING, MITIGATING, ResponsibilityKind, Sanction
from services.accountability import commands, store
from services.accountability.commands import OpenRefused, ProcedureNotFound
from services.accountability.models import Open
from services.accountability.payloads import LEADER_ROLES, MODELS
from services.accountability.procedure import StepNotAllowed
from services.accountability.views import view_of
from services.calendar.builtin import today
from services.cases import index as case_index
from services.common.eventstore import WrongExpectedVersion
from services.directory.model import Role
from services.domain.errors import CommandRefused, NotPermitted
from services.intake.routes.console import (
    PREFIX,
    PostedDep,
    Session,
    SessionDep,
    _message,
    _refusal,
    _render,
)
from services.web.deps import WiringDep

router = APIRouter(prefix=f"{PREFIX}/accountability", include_in_schema=False)
Pid = Annotated[str, PathParam(max_length=64)]
REFUSED = (ValidationError, CommandRefused, NotPermitted, StepNotAllowed, OpenRefused,
           WrongExpectedVersion)


def _refused(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, StepNotAllowed):
        return 409, f"{exc}（当前环节 current stage: {exc.state.stage.value}）"
    if isinstance(exc, OpenRefused):
        return 409, str(exc)
    return _refusal(exc)


def _forbidden(request: Request, session: Session) -> HTMLResponse:
    return _message(request, 403, "问责程序 Accountability",
                    "仅限纪检监察人员。For supervisors (纪检监察) only.", session)


@router.get("", response_class=HTMLResponse)
def procedures(request: Request, session: SessionDep, w: WiringDep,
               closed: bool = False) -> HTMLResponse:
    return _list(request, session, w, closed)


def _list(request: Request, session: Session, w: Any, closed: bool = False,
          error: str | None = None, values: dict[str, str] | None = None,
          status_code: int = 200) -> HTMLResponse:
    if not session.person.has(Role.supervisor):
        return _forbidden(request, session)
    with w.pool.connection() as conn:
        items = store.list_procedures(conn, open_only=not closed)
    return _render(request, "accountability_list.html", {
        "items": items, "closed": closed, "today": today(), "error": error,
        "values": values or {}, "name": lambda s: _name(session, s)},
        session=session, status_code=status_code)


@router.post("/open", response_model=None)
def open_procedure(request: Request, form: PostedDep, w: WiringDep) -> Response:
    session, v = form.session, form.values
    try:
        with w.pool.connection() as conn:
            case_id = case_index.case_of_receipt(conn, v.get("receipt_number", "").upper())
            if case_id is None:
                raise CommandRefused("receipt_number: no case with this receipt number")
            against = v.get("against_staff_ids", "").replace(",", " ").split()
            body = Open.model_validate({"summary": v.get("summary", ""),
                                        **({"against_staff_ids": against} if against else {})})
            state = commands.open_procedure(w.repo, conn, session.directory, session.person,
                                            case_id, body)
    except REFUSED as exc:
        code, text = _refused(exc)
        return _list(request, session, w, error=f"立案 Open: {text}", values=v,
                          status_code=code)
    return RedirectResponse(f"{router.prefix}/{state.procedure_id}?done=open",
                            status.HTTP_303_SEE_OTHER)


@router.get("/{pid}", response_class=HTMLResponse)
def procedure_page(request: Request, pid: Pid, session: SessionDep, w: WiringDep,
                   done: str | None = None) -> HTMLResponse:
    return _page(request, w, session, pid, flash=f"已办理 Done: {done}" if done else None)


def _page(request: Request, w: Any, session: Session, pid: str, *, flash: str | None = None,
          error: str | None = None, form: str | None = None,
          values: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
    d = session.directory
    try:
        with w.pool.connection() as conn:
            loaded = commands.load(w.repo, conn, session.person, pid)
            view = view_of(conn, d, session.person, loaded.procedure, today(),
                           case_version=loaded.case.version)
    except ProcedureNotFound:
        return _message(request, 404, "未找到 Not found",
                        "没有这个问责程序，或不在您的范围内。No such procedure in your scope.",
                        session)
    units = {view.against_unit_id} | {d.people[s].unit.id for s in view.against_staff_ids
                                      if s in d.people}
    leaders = [p for p in d.people.values() if any(p.has(r) for r, _ in LEADER_ROLES)
               and p.unit.id in units]
    return _render(request, "accountability.html", {
        "p": view, "flash": flash, "error": error, "form": form, "values": values or {},
        "leaders": sorted(leaders, key=lambda p: p.staff.id), "name": lambda s: _name(session, s),
        "sanctions": [s.value for s in Sanction], "kinds": [k.value for k in ResponsibilityKind],
        "mitigating": sorted(c.value for c in MITIGATING),
        "aggravating": sorted(c.value for c in AGGRAVATING)},
        session=session, status_code=status_code)


@router.post("/{pid}/{step}", response_model=None)
def act(request: Request, pid: Pid, step: str, form: PostedDep, w: WiringDep) -> Response:
    session = form.session
    model = MODELS.get(step.replace("-", "_"))
    if model is None:
        return _message(request, 404, "未知环节 Unknown step", step, session)
    try:
        body = model.model_validate(shape(step.replace("-", "_"), form.values))
        with w.pool.connection() as conn:
            commands.act(w.repo, conn, session.directory, session.person, pid,
                         step.replace("-", "_"), body)
    except REFUSED as exc:
        code, text = _refused(exc)
        return _page(request, w, session, pid, error=f"{step}: {text}", form=step,
                     values=form.values, status_code=code)
    except ProcedureNotFound:
        return _page(request, w, session, pid)
    return RedirectResponse(f"{router.prefix}/{pid}?done={step}", status.HTTP_303_SEE_OTHER)


def _name(session: Session, staff_id: str | None) -> str:
    person = session.directory.person(staff_id) if staff_id else None
    return f"{person.staff.name} ({staff_id})" if person else (staff_id or "—")


def _ids(text: str | None) -> list[str]:
    return (text or "").replace(",", " ").replace("，", " ").split()


def shape(step: str, v: dict[str, str]) -> dict[str, Any]:
    """The form's flat fields as the step's request body."""
    out: dict[str, Any] = {k: x for k, x in v.items() if x != "" and "." not in k}
    for key in ("group_member_ids", "delivered_to_ids"):
        if key in out:
            out[key] = _ids(out[key])
    for key in ("proceed", "upheld", "rights_told", "withdraw"):
        if key in MODELS[step].model_fields:
            out[key] = v.get(key) == "true"
    rows = _rows(v)
    if step == "decide" and out.get("upheld") and rows:
        out["responsibilities"] = rows
    if step == "review_decide" and out.get("outcome") == "varied" and rows:
        out["varied_responsibilities"] = rows
    return out


def _rows(v: dict[str, str]) -> list[dict[str, Any]]:
    """Rows r.0.staff_id, r.0.kind, r.0.sanction, r.0.mitigating ... ticked in r.0.include."""
    rows = []
    for i in range(20):
        row: dict[str, Any] = {k.split(".", 2)[2]: x for k, x in v.items()
               if k.startswith(f"r.{i}.") and x != ""}
        if row.pop("include", None) != "true" or "staff_id" not in row:
            continue
        for key in ("mitigating", "aggravating"):
            row[key] = [row[key]] if key in row else []
        rows.append(row)
    return rows
