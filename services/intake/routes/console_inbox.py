"""The staff member's in-app inbox: what the notification service told them, read or not.

    GET  /console/inbox[?unread=true]   newest first; unread ones marked, a link to each case
    POST /console/inbox/read            message_id=N: that message read; all=true: every one

The notification service writes the rows (staff_inbox, one per in-app message: a new
assignment or handoff, a deadline near or passed, an escalation, an approval needed); the
console only sets read_at. Only the reader's own rows are ever touched: another person's
message id is 404, as if it did not exist. Same session and CSRF as the case console.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.cases import index as case_index
from services.inapp import staff_inbox
from services.intake.routes.console import PREFIX, PostedDep, SessionDep, _message, _render
from services.web.deps import WiringDep

router = APIRouter(prefix=f"{PREFIX}/inbox", include_in_schema=False)
_TITLE = "站内消息 Inbox"


@router.get("", response_class=HTMLResponse)
def inbox_page(request: Request, session: SessionDep, w: WiringDep, unread: bool = False,
               done: int | None = None) -> HTMLResponse:
    with w.pool.connection() as conn:
        messages = staff_inbox.inbox(conn, session.me, unread_only=unread)
        receipts = case_index.receipts_of(conn, [m["case_id"] for m in messages if m["case_id"]])
    for m in messages:
        m["receipt_number"] = receipts.get(m["case_id"])
    flash = None if done is None else f"已标记为已读 Marked read: {done}"
    return _render(request, "inbox.html", {"messages": messages, "unread_only": unread,
                                           "flash": flash}, session=session)


@router.post("/read", response_model=None)
def mark_read(request: Request, form: PostedDep, w: WiringDep) -> Response:
    session, values = form.session, form.values
    if values.get("all") == "true":
        ids: list[int] | None = None
    else:
        raw = values.get("message_id", "")
        if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
            return _message(request, 422, _TITLE, f"message_id: 须为消息编号 must be a "
                            f"message number, got {raw!r}", session)
        ids = [int(raw)]
    with w.pool.connection() as conn:
        if ids is not None and not staff_inbox.owns_message(conn, session.me, ids[0]):
            return _message(request, 404, _TITLE, "message_id: 您的收件箱中没有这条消息。"
                            "No such message in your inbox.", session)
        n = staff_inbox.mark_read(conn, session.me, ids)
    back = "&unread=true" if values.get("back") == "unread" else ""
    return RedirectResponse(f"{router.prefix}?done={n}{back}", status.HTTP_303_SEE_OTHER)
