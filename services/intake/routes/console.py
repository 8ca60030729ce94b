"""The staff console: server-rendered pages for the window, the phone desk and the leaders.

    GET  /console/sign-in  POST /console/sign-in   development only: a staff id -> a dev token
    POST /console/sign-out                         (here, with the session, CSRF, rendering)
    GET  /console/register POST /console/register  register an inquiry (console_register.py)
    GET  /console/cases                            my cases (console_mine.py)
    GET  /console/cases/{case_id}                  status, timeline, the forms I may use,
    POST /console/cases/{case_id}/{action}         and one command of services.intake.commands
                                                   (console_case.py)
    GET  /console/leader                           escalations, transfers, extensions
                                                   (console_leader.py)
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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from events.personal import mask_text
from services.calendar import CIVIL_TIME
from services.cases import access
from services.common import csrf
from services.common.auth import AuthError, issue_token, verify_token
from services.common.eventstore import WrongExpectedVersion
from services.common.problems import problem, wants_problem
from services.directory.index import DirectoryIndex, Person
from services.domain.case import ActionNotAllowed, Status
from services.domain.errors import NotPermitted
from services.intake.routes import console_deadlines, console_nav
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


def _filled(values: dict[str, str]) -> dict[str, str]:
    filled = {k: v for k, v in values.items() if v != ""}
    at = filled.get("received_at")
    if at and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?", at):
        filled["received_at"] = at + "+08:00"  # a browser's datetime-local: China time
    return filled


def _name(directory: DirectoryIndex, staff_id: str | None) -> str:
    person = directory.person(staff_id) if staff_id else None
    return person.staff.name if person else (staff_id or "")


def _actor(directory: DirectoryIndex, actor: str) -> str:
    kind, _, who = actor.partition(":")
    if kind == "staff":
        return f"{_name(directory, who)} ({who})"
    if kind in ("system", "service"):
        return f"系统 system ({who})"
    return {"inquirer": "群众 inquirer"}.get(kind, actor)


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


# ---------------------------------------------------------------- the stylesheet

@router.get("/static/console.css")
def stylesheet() -> Response:
    return Response(STYLESHEET.read_text(encoding="utf-8"), media_type="text/css",
                    headers={"Cache-Control": "max-age=300"})
