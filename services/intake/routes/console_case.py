"""The staff console: one case (status, timeline, deadlines, my forms) and acting on it.

    GET  /console/cases/{case_id}
    POST /console/cases/{case_id}/{action}   one command of services.intake.commands

Session, CSRF, rendering and refusals: console.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Request, status
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from services.calendar.builtin import today
from services.cases import access
from services.cases.access import Loaded
from services.cases.repository import CaseNotFound
from services.common.eventstore import WrongExpectedVersion
from services.directory.index import DirectoryIndex
from services.domain.case import ActionNotAllowed
from services.domain.errors import CommandRefused, NotPermitted
from services.intake import commands, models
from services.intake import matter as matters
from services.intake.queries import case_detail
from services.intake.routes import console_deadlines
from services.intake.routes.console import (
    _RUNNING,
    PREFIX,
    PostedDep,
    Session,
    SessionDep,
    _actor,
    _filled,
    _message,
    _name,
    _refusal,
    _render,
)
from services.web.deps import Wiring, WiringDep

router = APIRouter(prefix=PREFIX, include_in_schema=False)


CaseId = Annotated[str, PathParam(max_length=64)]


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: CaseId, session: SessionDep, w: WiringDep,
              done: str | None = None) -> HTMLResponse:
    flash = f"已办理 Done: {ACTIONS[done].label}" if done in ACTIONS else None
    return _case_response(request, w, session, case_id, flash=flash)


def _case_response(request: Request, w: Wiring, session: Session, case_id: str, *,
                   flash: str | None = None, error: str | None = None, form: str | None = None,
                   values: dict[str, str] | None = None, status_code: int = 200
                   ) -> HTMLResponse:
    d, person = session.directory, session.person
    try:
        with w.pool.connection() as conn:
            loaded = commands.load_visible(w.repo, conn, d, person, case_id)
            detail = case_detail(w.repo, conn, d, person, case_id)
    except CaseNotFound:
        return _not_found(request, session)
    facts = [(e.type.split(".")[2], e.data, e.time) for e in detail.events]
    context = {
        "deadlines": console_deadlines.in_force(facts, datetime.now(UTC)),
        "detail": detail, "received": detail.events[0].data, "actions": _available(session, loaded),
        "flash": flash, "error": error, "form": form, "values": values or {},
        "overdue": bool(detail.due_date and detail.status in _RUNNING
                        and detail.due_date < today()),
        "choices": _choices(d, loaded), "actor": lambda a: _actor(d, a),
        "name": lambda staff_id: _name(d, staff_id),
        "section": lambda sid: f"{d.sections[sid][0].name} · {sid}" if sid in d.sections else sid,
        "matter": lambda code: f"{d.matters[code].name} · {code}" if code in d.matters else code,
    }
    return _render(request, "case.html", context, session=session, status_code=status_code)


def _not_found(request: Request, session: Session) -> HTMLResponse:
    return _message(request, 404, "未找到案件 Case not found",
                    "没有这个案件，或不在您的范围内。No such case, or not in your scope.",
                    session)


def _choices(d: DirectoryIndex, loaded: Loaded) -> dict[str, Any]:
    """The directory's options for the forms: sections, handlers, matters, outside bodies."""
    on_duty = [p for p in d.people.values() if p.staff.on_duty]
    matter = d.matters.get(loaded.state.matter_type_code or "")
    return {
        "units": [(u, u.sections) for u in d.units.values()],
        "handlers": [(u, s, [p for p in on_duty if p.staff.section == s.id])
                     for u in d.units.values() for s in u.sections],
        "matters": sorted((m for m in d.matters.values() if m.time_limit_working_days is not None),
                          key=lambda m: (m.category, m.code)),
        "bodies": list(d.bodies.values()),
        "all_matters": sorted(d.matters.values(), key=lambda m: (m.category, m.code)),
        "colleagues": [p for p in on_duty if p.unit.id in loaded.state.units],
        "materials": matter.materials if matter else [],
        "transfer_asked": (loaded.last("transfer_requested") or _NOTHING).data,
        "extension_asked": (loaded.last("extension_requested") or _NOTHING).data,
    }


@dataclass(frozen=True)
class _Nothing:
    data: dict[str, Any]


_NOTHING = _Nothing({})


Shape = Callable[[dict[str, str]], dict[str, Any]]


@dataclass(frozen=True)
class Action:
    name: str  # the domain's action (services.domain.case.ALLOWED)
    label: str
    command: Callable[..., Any]
    model: type[BaseModel]
    shape: Shape = _filled


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _pairs(text: str | None, first: str, second: str) -> list[dict[str, str]]:
    """'name | more' per line -> [{first: name, second: more}]; the second part optional."""
    out = []
    for line in _lines(text):
        a, _, b = line.replace("｜", "|").partition("|")
        out.append({first: a.strip(), **({second: b.strip()} if b.strip() else {})})
    return out


def _matter(v: dict[str, str]) -> dict[str, Any]:
    """The radio (a suggestion) or, when chosen, the catalogue select."""
    out: dict[str, Any] = {k: x for k, x in _filled(v).items() if k != "matter_other"}
    if v.get("matter_other"):
        out["matter_type_code"] = v["matter_other"]
    return out


def _notice(v: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = _filled(v)
    out["missing_materials"] = _pairs(v.get("missing_materials"), "name", "requirements")
    out["forms"] = [f if "where" in f else {**f, "where": ""}
                    for f in _pairs(v.get("forms"), "name", "where")]
    return out


def _materials(v: dict[str, str]) -> dict[str, Any]:
    return {**_filled(v), "materials": _lines(v.get("materials")),
            "outstanding": _lines(v.get("outstanding"))}


def _deliver(v: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {k: x for k, x in _filled(v).items() if not k.startswith("pickup_")}
    pickup = {k.removeprefix("pickup_"): x for k, x in _filled(v).items()
              if k.startswith("pickup_")}
    if pickup:
        out["pickup"] = pickup
    return out


def _kind(kind: str) -> Shape:
    return lambda v: {**_filled(v), "kind": kind}


ACTIONS: dict[str, Action] = {
    "accept": Action("accept", "受理承办 Accept", commands.accept, models.Accept),
    "one-time-notice": Action("one_time_notice", "一次性告知 One-time notice",
                              commands.one_time_notice, models.OneTimeNotice, _notice),
    "materials-supplied": Action("materials_supplied", "补齐材料 Materials supplied",
                                 commands.materials_supplied, models.MaterialsSupplied,
                                 _materials),
    "refer-internal": Action("refer_internal", "转办经办人 Refer to a handler", commands.refer,
                             models.ReferInternal, _kind("internal")),
    "refer-external": Action("refer_external", "指引外单位 Refer to an outside body",
                             commands.refer, models.ReferExternal, _kind("external")),
    "accept-handoff": Action("accept_handoff", "接办 Accept the handoff",
                             commands.accept_handoff, models.AcceptHandoff),
    "escalate": Action("escalate", "请示领导 Escalate", commands.escalate, models.Escalate),
    "matter": Action("choose_matter", "选定事项 Choose the matter", matters.choose_matter,
                     models.ChooseMatter, _matter),
    "reply": Action("reply", "答复 Reply", commands.reply, models.Reply),
    "complete": Action("complete", "办结 Complete", commands.complete, models.Complete),
    "deliver": Action("deliver", "送达 Deliver the result", commands.deliver, models.Deliver,
                      _deliver),
    "close": Action("close", "结案 Close", commands.close, models.Close),
    "transfer-request": Action("request_transfer", "申请变更责任人 Request a transfer",
                               commands.request_transfer, models.TransferRequest),
    "extension-request": Action("request_extension", "申请延期 Request an extension",
                                commands.request_extension, models.ExtensionRequest),
    "transfer-decision": Action("decide_transfer", "审批变更责任人 Decide the transfer",
                                commands.decide_transfer, models.TransferDecision),
    "extension-decision": Action("decide_extension", "审批延期 Decide the extension",
                                 commands.decide_extension, models.ExtensionDecision),
}


def _permitted(session: Session, loaded: Loaded, action: str) -> bool:
    """Who may do it, as the commands decide (access); a leader never decides their own
    request. Only to choose the forms shown: the command checks again."""
    person, state = session.person, loaded.state
    if action == "accept_handoff":
        return access.may_take_handoff(person, state)
    if action in access.REQUEST_OF:
        return access.may_decide(person, loaded, action, session.directory)
    return access.may_act(person, state)


def _available(session: Session, loaded: Loaded) -> list[str]:
    out = []
    for slug, action in ACTIONS.items():
        try:
            loaded.state.require(action.name)
        except ActionNotAllowed:
            continue
        if _permitted(session, loaded, action.name):
            out.append(slug)
    return out


@router.post("/cases/{case_id}/{action}", response_model=None)
def act(request: Request, case_id: CaseId, action: str, form: PostedDep,
        w: WiringDep) -> Response:
    spec, session = ACTIONS.get(action), form.session
    if spec is None:
        return _message(request, 404, "未知操作 Unknown action", action, session)
    values = {k: v for k, v in form.values.items() if k != "back"}
    try:
        body = spec.model.model_validate(spec.shape(values))
        command = (partial(spec.command, calendars=w.calendars) if spec.name == "accept"
                   else spec.command)
        with w.pool.connection() as conn:
            command(w.repo, conn, session.directory, session.person, case_id, body)
    except CaseNotFound:
        return _not_found(request, session)
    except (ValidationError, CommandRefused, NotPermitted, ActionNotAllowed,
            WrongExpectedVersion) as exc:
        code, text = _refusal(exc)
        return _case_response(request, w, session, case_id, error=f"{spec.label}: {text}",
                              form=action, values=values, status_code=code)
    back = (f"{PREFIX}/leader" if form.values.get("back") == "leader"
            else f"{PREFIX}/cases/{case_id}?done={action}")
    return RedirectResponse(back, status.HTTP_303_SEE_OTHER)
