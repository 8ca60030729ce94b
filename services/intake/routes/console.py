"""The staff console: server-rendered pages for the window, the phone desk and the leaders.

    GET  /console/sign-in  POST /console/sign-in   development only: a staff id -> a dev token
    POST /console/sign-out
    GET  /console/register POST /console/register  register an inquiry -> the receipt
    GET  /console/cases                            my cases: held, named for, registered
    GET  /console/cases/{case_id}                  status, timeline, the forms I may use
    POST /console/cases/{case_id}/{action}         one command of services.intake.commands
    GET  /console/leader                           escalations to me, transfers, extensions
    GET  /console/inbox  POST /console/inbox/read  my in-app notifications (console_inbox.py)

The case page and My cases show the deadlines in force (deadline_set, console_deadlines.py)
and deadline-watch's ladder; the navigation shows the unread count and, by role, the
accountability pages and the leaders' dashboard (console_nav.py).

Session: browsers send no bearer header, so the access token lives in a cookie (HttpOnly,
SameSite=Strict, Path=/console, Secure outside development) and is checked on every request
exactly like the API's (verify_token, then the directory in force); missing, expired or
unknown -> the sign-in page. In production the token comes from the city's identity
provider (its sign-in sets this cookie); the development sign-in page refuses to work there.

CSRF: services/common/csrf.py, the scheme the dashboard shares: every form carries
HMAC-SHA256(key = the access token, "csrf:" + jti); the sign-in form, before any token
exists, a double-submit cookie.

No rule lives here: an action is the command function the JSON API calls; a refusal (409
not allowed now, 422 brush-off or bad input, 403 not yours) is shown on the case page with
the form as it was filled in. Templates (autoescaped) hold the labels and the layout.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
import psycopg
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from psycopg.rows import dict_row
from pydantic import BaseModel, ValidationError

from events.personal import mask_text
from services.calendar import CIVIL_TIME
from services.calendar.builtin import today
from services.cases import access
from services.cases.access import Loaded
from services.cases.repository import CaseNotFound
from services.common import csrf
from services.common.auth import AuthError, issue_token, verify_token
from services.common.eventstore import WrongExpectedVersion
from services.common.problems import problem, wants_problem
from services.directory.index import DirectoryIndex, Person
from services.domain.case import ActionNotAllowed, Status
from services.domain.errors import CommandRefused, NotPermitted
from services.intake import commands, models
from services.intake import matter as matters
from services.intake.queries import case_detail
from services.intake.routes import console_deadlines, console_nav, console_queries
from services.web.deps import DirectoryDep, Wiring, WiringDep

PREFIX = "/console"
router = APIRouter(prefix=PREFIX, include_in_schema=False)

COOKIE = "shouwen_console"
SIGN_IN_COOKIE = "shouwen_console_sign_in"
_HERE = Path(__file__).resolve().parents[1]
STYLESHEET = _HERE / "static" / "console.css"
templates = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True,
    undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True))
# no inline script or style anywhere: the policy forbids them
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; "
                                       "form-action 'self'; base-uri 'none'"}
_NEXT = re.compile(rf"^{PREFIX}/[A-Za-z0-9/_\-]*$")
# the case is still the handler's to finish: past the due date it is overdue
_RUNNING = frozenset({Status.received, Status.awaiting_materials, Status.awaiting_handoff,
                      Status.in_handling})


# ---------------------------------------------------------------- session and CSRF

@dataclass(frozen=True)
class Session:
    person: Person
    directory: DirectoryIndex
    csrf: str

    @property
    def me(self) -> str:
        return self.person.staff.id

    @property
    def is_leader(self) -> bool:
        return (self.person.has(*access.LEADERS)
                or access.is_centre_leader(self.person, self.directory))

    @property
    def is_supervisor(self) -> bool:
        return console_nav.may_supervise(self.person)


def _sign_in_first(request: Request, reason: str | None = None) -> HTTPException:
    query = {"next": request.url.path if request.method == "GET" else f"{PREFIX}/cases"}
    if reason:
        query["reason"] = reason
    return HTTPException(status.HTTP_303_SEE_OTHER, "sign in first",
                         headers={"Location": f"{PREFIX}/sign-in?{urlencode(query)}"})


def current_session(request: Request, w: WiringDep, directory: DirectoryDep) -> Session:
    token = request.cookies.get(COOKIE)
    if not token:
        raise _sign_in_first(request)
    try:
        claims = verify_token(w.settings, token)
    except AuthError:
        raise _sign_in_first(request, "expired") from None
    person = directory.person(str(claims["sub"]))
    if person is None:
        raise _sign_in_first(request, "unknown")
    return Session(person, directory, csrf.form_token(token, str(claims.get("jti", ""))))


SessionDep = Annotated[Session, Depends(current_session)]


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v.strip() for k, v in form.items() if isinstance(v, str)}


FormDep = Annotated[dict[str, str], Depends(_form)]


@dataclass(frozen=True)
class Posted:
    session: Session
    values: dict[str, str]


def posted(session: SessionDep, values: FormDep) -> Posted:
    """The form of a signed-in user, if it carries their CSRF token; else 403."""
    values = dict(values)
    if not csrf.same(values.pop("csrf", ""), session.csrf):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the form's CSRF token is missing or "
                            "wrong: reload the page and submit it again")
    return Posted(session, values)


PostedDep = Annotated[Posted, Depends(posted)]


def _render(request: Request, name: str, context: dict[str, Any], *,
            session: Session | None = None, status_code: int = 200) -> HTMLResponse:
    if status_code >= 400 and wants_problem(request):
        why = context.get("error") or context.get("text") or context.get("title") or name
        return problem(status_code, str(why))  # type: ignore[return-value]
    ctx = {"session": session, "error": None, "flash": None, "values": {},
           **console_nav.nav_context(request, session.person if session else None), **context}
    return templates.TemplateResponse(request, name, ctx, status_code=status_code,
                                       headers=_HEADERS)


def _message(request: Request, status_code: int, title: str, text: str,
             session: Session | None = None) -> HTMLResponse:
    return _render(request, "message.html", {"title": title, "text": text},
                   session=session, status_code=status_code)


def _civil(when: datetime | str) -> str:
    """Times as the units read them (their civil time), not the server's; an event's data
    holds them as ISO strings."""
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    return when.astimezone(CIVIL_TIME).strftime("%Y-%m-%d %H:%M")


templates.env.filters["civil"] = _civil
templates.env.filters["masked"] = mask_text  # addresses on the timeline, for everyone
templates.env.filters["due"] = console_deadlines.due_text


def _cookie_secure(w: Wiring) -> bool:
    return w.settings.environment != "development"


# ---------------------------------------------------------------- sign-in (development)

_PROD_SIGN_IN = ("生产环境请通过全市统一身份认证登录。In production staff sign in with the "
                 "city's identity provider; this development sign-in is refused outside "
                 "development.")


@router.get("", response_class=RedirectResponse)
def home() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/cases", status.HTTP_303_SEE_OTHER)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, w: WiringDep, next: str = "",
                 reason: str | None = None) -> HTMLResponse:
    if w.settings.environment != "development":
        return _message(request, 403, "登录 Sign in", _PROD_SIGN_IN)
    nonce = csrf.sign_in_nonce()
    response = _render(request, "sign_in.html", {
        "csrf": nonce, "next": _safe_next(next), "reason": reason,
        "people": _people(w.directory.get())})
    csrf.set_sign_in_cookie(response, SIGN_IN_COOKIE, nonce, path=PREFIX,
                            secure=_cookie_secure(w))
    return response


@router.post("/sign-in", response_model=None)
def sign_in(request: Request, w: WiringDep, directory: DirectoryDep,
            values: FormDep) -> Response:
    if w.settings.environment != "development":
        return _message(request, 403, "登录 Sign in", _PROD_SIGN_IN)
    if not csrf.same(values.get("csrf", ""), request.cookies.get(SIGN_IN_COOKIE, "")):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the sign-in form's CSRF token is "
                            "missing or wrong: reload the sign-in page")
    staff_id = values.get("staff_id", "")
    if directory.person(staff_id) is None:
        return _render(request, "sign_in.html", {
            "csrf": values["csrf"], "next": _safe_next(values.get("next", "")),
            "reason": None, "people": _people(directory), "values": values,
            "error": f"工号 {staff_id!r} 不在目录中 — no staff member {staff_id!r} in the "
                     "directory in force"}, status_code=422)
    response = RedirectResponse(_safe_next(values.get("next", "")), status.HTTP_303_SEE_OTHER)
    response.set_cookie(COOKIE, issue_token(w.settings, staff_id),
                        max_age=w.settings.token_ttl_seconds, path=PREFIX, httponly=True,
                        samesite="strict", secure=_cookie_secure(w))
    response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
def sign_out(form: PostedDep) -> RedirectResponse:
    response = RedirectResponse(f"{PREFIX}/sign-in", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


def _safe_next(target: str) -> str:
    """Only a console path: never an open redirect."""
    return target if _NEXT.fullmatch(target) else f"{PREFIX}/cases"


def _people(directory: DirectoryIndex | None) -> list[Person]:
    return sorted(directory.people.values(), key=lambda p: p.staff.id) if directory else []


# ---------------------------------------------------------------- register an inquiry

@router.get("/register", response_class=HTMLResponse)
def register_page(request: Request, session: SessionDep, channel: str = "visit") -> HTMLResponse:
    return _render(request, "register.html", {"values": {"channel": channel}},
                   session=session)


@router.post("/register", response_class=HTMLResponse)
def register(request: Request, form: PostedDep, w: WiringDep) -> HTMLResponse:
    session = form.session
    try:
        body = models.RegisterInquiry.model_validate(_filled(form.values))
        with w.pool.connection() as conn:
            receipt = commands.register(w.repo, conn, session.directory, session.person, body,
                                        w.settings.received_date_max_age_days)
    except (ValidationError, CommandRefused) as exc:
        code, text = _refusal(exc)
        return _render(request, "register.html", {"values": form.values, "error": text},
                       session=session, status_code=code)
    return _render(request, "receipt.html", {"receipt": receipt}, session=session)


def _filled(values: dict[str, str]) -> dict[str, str]:
    filled = {k: v for k, v in values.items() if v != ""}
    at = filled.get("received_at")
    if at and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?", at):
        filled["received_at"] = at + "+08:00"  # a browser's datetime-local: China time
    return filled


# ---------------------------------------------------------------- my cases

_MINE = ("(handler_id = %(me)s OR responsible_id = %(me)s OR awaiting_handoff_to = %(me)s"
         " OR first_responder_id = %(me)s)")


@router.get("/cases", response_class=HTMLResponse)
def my_cases(request: Request, session: SessionDep, w: WiringDep,
             closed: bool = False) -> HTMLResponse:
    scope, params = access.scope_filter(session.person, session.directory)
    where = f"{scope} AND {_MINE}" + ("" if closed else " AND status <> 'closed'")
    with w.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT case_id, receipt_number, status, channel, handler_id, first_responder_id,"
            " responsible_id, awaiting_handoff_to, due_date, opened_at FROM case_index"
            f" WHERE {where} ORDER BY awaiting_handoff_to = %(me)s DESC NULLS LAST,"
            " due_date ASC NULLS LAST, opened_at DESC LIMIT 200",
            {**params, "me": session.me}).fetchall()
        facts = console_queries.deadline_facts(conn, [r["case_id"] for r in rows])
    now = datetime.now(UTC)
    return _render(request, "cases.html", {
        "cases": [_row(session, r, facts[r["case_id"]], now) for r in rows], "closed": closed,
        "name": lambda s: _name(session.directory, s)}, session=session)


def _row(session: Session, row: dict[str, Any], facts: list[console_deadlines.Fact],
         now: datetime) -> dict[str, Any]:
    me, due = session.me, row["due_date"]
    running = Status(row["status"]) in _RUNNING
    deadlines = console_deadlines.in_force(facts, now)
    return {**row, "handler": _name(session.directory, row["handler_id"]),
            "deadlines": deadlines, "ladder": console_deadlines.ladder(facts),
            "breached": console_deadlines.overdue(deadlines),
            "named": row["awaiting_handoff_to"] == me,
            "holds": me in (row["handler_id"], row["responsible_id"]),
            "registered": row["first_responder_id"] == me,
            "overdue": bool(due and running and due < today()),
            "due_today": bool(due and running and due == today())}


def _name(directory: DirectoryIndex, staff_id: str | None) -> str:
    person = directory.person(staff_id) if staff_id else None
    return person.staff.name if person else (staff_id or "")


# ---------------------------------------------------------------- one case

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


def _actor(directory: DirectoryIndex, actor: str) -> str:
    kind, _, who = actor.partition(":")
    if kind == "staff":
        return f"{_name(directory, who)} ({who})"
    if kind in ("system", "service"):
        return f"系统 system ({who})"
    return {"inquirer": "群众 inquirer"}.get(kind, actor)


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


# ---------------------------------------------------------------- actions

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


def _refusal(exc: Exception) -> tuple[int, str]:
    """The status code and a readable message for a refused command."""
    if isinstance(exc, ValidationError):
        return 422, "; ".join(_explain(e) for e in exc.errors())
    if isinstance(exc, ActionNotAllowed):
        return 409, f"{exc}（当前状态 current status: {exc.state.status.value}）"
    if isinstance(exc, WrongExpectedVersion):
        return 409, ("案件已被他人更新，请刷新后重试。The case changed meanwhile "
                     f"(version {exc.actual}); reload it and try again.")
    if isinstance(exc, NotPermitted):
        return 403, f"无权办理 Not yours to do: {exc}"
    return 422, str(exc)


def _explain(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    text = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        text = "必填 required"
    return f"{where}: {text}" if where else text


# ---------------------------------------------------------------- leader queue

_QUEUE = ("status <> 'closed' AND (%(me)s = ANY(escalated_to) OR transfer_pending"
          " OR extension_pending)")


@router.get("/leader", response_class=HTMLResponse)
def leader_queue(request: Request, session: SessionDep, w: WiringDep) -> HTMLResponse:
    if not session.is_leader:
        return _message(request, 403, "领导待办 Leader queue",
                        "仅限领导。For section chiefs and leaders only.", session)
    scope, params = access.scope_filter(session.person, session.directory)
    queue: dict[str, list[dict[str, Any]]] = {"escalations": [], "transfers": [],
                                              "extensions": []}
    with w.pool.connection() as conn:
        for case_id in _queued(conn, scope, {**params, "me": session.me}):
            loaded = commands.load_visible(w.repo, conn, session.directory, session.person,
                                           case_id)
            _enqueue(queue, session, loaded)
    return _render(request, "leader.html", {"queue": queue, "name": lambda s:
                                            _name(session.directory, s)}, session=session)


def _queued(conn: psycopg.Connection, scope: str, params: dict[str, Any]) -> list[str]:
    rows = conn.execute(f"SELECT case_id FROM case_index WHERE {scope} AND {_QUEUE}"
                        " ORDER BY updated_at LIMIT 200", params).fetchall()
    return [r[0] for r in rows]


# queue -> (the flag on the case, the request event, the decision it awaits)
_PENDING = {"transfers": ("transfer_pending", "transfer_requested", "decide_transfer"),
            "extensions": ("extension_pending", "extension_requested", "decide_extension")}


def _enqueue(queue: dict[str, list[dict[str, Any]]], session: Session, loaded: Loaded) -> None:
    state, d = loaded.state, session.directory
    item = {"state": state, "version": state.version,
            "colleagues": [p for p in d.people.values()
                           if p.staff.on_duty and p.unit.id in state.units]}
    mine = [e for e in loaded.events if e.type.split(".")[2] == "escalated"
            and e.data["leader"]["id"] == session.me]
    if mine:
        facts = [(e.type.split(".")[2], e.data, e.time) for e in loaded.events]
        queue["escalations"].append({
            **item, "asked": mine[-1].data, "by": _actor(d, mine[-1].actor), "at": mine[-1].time,
            "deadlines": console_deadlines.in_force(facts, datetime.now(UTC))})
    for kind, (flag, request_name, decision) in _PENDING.items():
        asked = loaded.last(request_name)
        if getattr(state, flag) and asked and _permitted(session, loaded, decision):
            queue[kind].append({**item, "asked": asked.data, "by": _actor(d, asked.actor)})


# ---------------------------------------------------------------- the stylesheet

@router.get("/static/console.css")
def stylesheet() -> Response:
    return Response(STYLESHEET.read_text(encoding="utf-8"), media_type="text/css",
                    headers={"Cache-Control": "max-age=300"})
