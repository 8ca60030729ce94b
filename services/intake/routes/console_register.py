"""The staff console: register an inquiry (a walk-in, a call) -> the receipt.

    GET  /console/register POST /console/register

Session, CSRF, rendering and refusals: console.py.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from services.domain.errors import CommandRefused
from services.intake import commands, models
from services.intake.routes.console import (
    PREFIX,
    PostedDep,
    SessionDep,
    _filled,
    _refusal,
    _render,
)
from services.web.deps import WiringDep

router = APIRouter(prefix=PREFIX, include_in_schema=False)


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
