"""The leaders' dashboard, server-rendered (Jinja2, charts as inline SVG, no script).

    GET  /dashboard                  open, overdue, escalated per unit and section; on-time
                                     rate and satisfaction week by week (?weeks=1..104)
    GET  /dashboard/cases/{case_id}  the case's figures and its timeline (personal data masked)
    GET  /dashboard/sign-in  POST    development only: a staff id -> a dev token in a cookie
    GET  /dashboard/static/dashboard.css

Who: section chiefs, supervising and principal leaders, centre admins and supervisors
(纪检监察), anyone else 403. What: the units access.py lets them read (every unit for the
centre's leadership, admins and supervisors; their own unit otherwise); a case outside that
is 404, as in the API. The token comes as a bearer header or the ``shouwen_dashboard``
cookie (HttpOnly, SameSite=Strict, Path=/dashboard) and is checked like the API's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from events.personal import mask_event_data
from services.calendar import CIVIL_TIME
from services.calendar.builtin import today
from services.cases.access import load_visible
from services.cases.repository import CaseNotFound
from services.common import csrf
from services.common.auth import AuthError, issue_token, verify_token
from services.common.pii import open_events
from services.common.problems import problem, wants_problem
from services.dashboard import pages
from services.dashboard.wiring import DashboardWiring, wiring_of
from services.directory.index import DirectoryIndex, Person
from services.directory.model import Role
from services.record.describe import describe

PREFIX = "/dashboard"
COOKIE, SIGN_IN_COOKIE = "shouwen_dashboard", "shouwen_dashboard_sign_in"
LEADER_ROLES = (Role.section_chief, Role.supervising_leader, Role.principal_leader,
                Role.centre_admin, Role.supervisor)
_HERE = Path(__file__).resolve().parent
router = APIRouter(prefix=PREFIX, include_in_schema=False)
templates = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True,
    undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True))
templates.env.filters["civil"] = lambda t: t.astimezone(CIVIL_TIME).strftime("%Y-%m-%d %H:%M")
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; "
                                       "form-action 'self'; base-uri 'none'"}
WiringDep = Annotated[DashboardWiring, Depends(wiring_of)]


@dataclass(frozen=True)
class Leader:
    person: Person
    directory: DirectoryIndex


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200,
          ) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"leader": None, **context},
                                      status_code=status_code, headers=_HEADERS)


class Refused(Exception):
    def __init__(self, status_code: int, title: str, text: str) -> None:
        super().__init__(text)
        self.status_code, self.title, self.text = status_code, title, text


async def current_leader(request: Request, w: WiringDep) -> Leader:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else \
        request.cookies.get(COOKIE)
    if not token:
        raise HTTPException(status.HTTP_303_SEE_OTHER, "sign in first",
                            headers={"Location": f"{PREFIX}/sign-in"})
    try:
        claims = await run_in_threadpool(verify_token, w.settings, token)
    except AuthError as exc:
        raise Refused(401, "未登录 Not signed in", f"the access token was refused: {exc}") from None
    directory = await run_in_threadpool(w.directory.get)
    if directory is None:
        raise Refused(503, "目录未加载 No directory", "no directory is loaded yet")
    person = directory.person(str(claims["sub"]))
    if person is None:
        raise Refused(401, "未登录 Not signed in", "this staff member is not in the directory")
    if not person.has(*LEADER_ROLES):
        raise Refused(403, "仅限领导 Leaders only", "the dashboard is for section chiefs, "
                      "leaders, centre administrators and supervisors; "
                      f"{person.staff.id} holds none of those roles")
    return Leader(person, directory)


LeaderDep = Annotated[Leader, Depends(current_leader)]


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request, leader: LeaderDep, w: WiringDep,
              weeks: Annotated[int | None, Query(ge=1, le=104)] = None) -> HTMLResponse:
    with w.pool.connection() as conn:
        view = pages.overview(conn, leader.person, leader.directory, today(),
                              weeks or w.config.dashboard_weeks)
    return _page(request, "dashboard.html", {"leader": leader, "view": view})


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: str, leader: LeaderDep, w: WiringDep) -> HTMLResponse:
    with w.pool.connection() as conn:
        try:
            loaded = load_visible(w.repo, conn, leader.directory, leader.person, case_id)
        except CaseNotFound:
            raise Refused(404, "未找到 Not found", f"no case {case_id} in your scope") from None
        summary = pages.summary(conn, case_id, today())
        opened = open_events(list(loaded.events), conn)  # then masked: a leader's page
    timeline = [{"time": e.time, "version": e.sequence, "type": e.type.split(".")[2],
                 "actor": pages.actor_name(leader.directory, e.actor),
                 "did": describe(e.type, mask_event_data(e.type, e.data))[0]}
                for e in opened]
    return _page(request, "case.html", {"leader": leader, "state": loaded.state,
                                        "summary": summary, "timeline": timeline})


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, w: WiringDep) -> HTMLResponse:
    if w.settings.environment != "development":
        raise Refused(403, "登录 Sign in", "in production leaders sign in with the city's "
                      "identity provider; this development sign-in is refused")
    nonce = csrf.sign_in_nonce()
    response = _page(request, "sign_in.html", {"csrf": nonce, "error": None})
    csrf.set_sign_in_cookie(response, SIGN_IN_COOKIE, nonce, path=PREFIX, secure=False)
    return response


@router.post("/sign-in", response_model=None)
async def sign_in(request: Request, w: WiringDep) -> Response:
    if w.settings.environment != "development":
        raise Refused(403, "登录 Sign in", "the development sign-in is refused in production")
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    nonce = request.cookies.get(SIGN_IN_COOKIE, "")
    if not csrf.same(form.get("csrf", ""), nonce):
        raise Refused(403, "登录 Sign in", "csrf: the sign-in form's token is missing or "
                      "wrong; reload the sign-in page")
    staff_id = form.get("staff_id", "").strip()
    directory = await run_in_threadpool(w.directory.get)
    if directory is None or directory.person(staff_id) is None:
        if wants_problem(request):  # a client asking for JSON gets a problem document
            return problem(422, f"staff_id: no staff member {staff_id[:64]!r} in the "
                                "directory in force")
        return _page(request, "sign_in.html", {"csrf": nonce, "error": f"staff_id: no staff "
                     f"member {staff_id!r} in the directory in force"}, status_code=422)
    response = RedirectResponse(PREFIX, status.HTTP_303_SEE_OTHER)
    response.set_cookie(COOKIE, issue_token(w.settings, staff_id), path=PREFIX,
                        max_age=w.settings.token_ttl_seconds, httponly=True,
                        samesite="strict", secure=False)
    return response


@router.get("/static/dashboard.css")
def stylesheet() -> Response:
    return Response((_HERE / "static" / "dashboard.css").read_text(encoding="utf-8"),
                    media_type="text/css", headers={"Cache-Control": "max-age=300"})


def refused_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    if wants_problem(request):
        return problem(exc.status_code, exc.text)
    return _page(request, "message.html", {"title": exc.title, "text": exc.text,
                                           "generated": datetime.now(CIVIL_TIME)},
                 status_code=exc.status_code)
