"""The citizen's copy (PIPL Art. 45): what the system holds about the inquirer for one case.

    citizen_copy(conn, case_id, events)   -> dict (JSON): the case as the inquirer sees it
        (receipt, unit, status, steps with times), every personal field recorded about them
        (event, time, field, value opened; [已删除 erased] where erased), and the messages
        sent to them as the case's notification events record them
    render_html(copy)                     the same as a readable, self-contained page
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from jinja2 import Environment

from events import CloudEvent
from events.notification import NotificationFailed, NotificationSent
from events.personal import plan_for_type
from events.sealed import _walk
from services.common.pii import open_events

_MESSAGES = (NotificationSent.event_type, NotificationFailed.event_type)


def personal_fields(events: list[CloudEvent]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for e in events:
        def note(path: str, value: str, e: CloudEvent = e) -> str:
            found.append({"event": e.type.split(".")[2], "time": e.time.isoformat(),
                          "field": path, "value": value})
            return value

        _walk(plan_for_type(e.type), e.data, "", note)
    return found


def citizen_copy(conn: psycopg.Connection, case_id: str, events: list[CloudEvent],
                 status: str) -> dict[str, Any]:
    opened = open_events(events, conn)
    first = opened[0].data
    deliveries = [  # as the case's own record says (notification_sent / _failed)
        {"channel": e.data["channel"], "address": e.data.get("address"),
         "template": e.data["template"], "message": e.data.get("message"),
         "state": "sent" if e.type == NotificationSent.event_type else "failed",
         "created_at": e.time.isoformat()}
        for e in opened if e.type in _MESSAGES and e.data.get("recipient_kind") == "inquirer"]
    ref = conn.execute("SELECT inquirer_ref FROM pii_cases WHERE case_id = %s",
                       (case_id,)).fetchone()
    return {
        "generated_at": datetime.now(UTC).isoformat(), "case_id": case_id,
        "receipt_number": first["receipt_number"], "unit_id": first["unit_id"],
        "status": status, "inquirer_ref": ref[0] if ref else None,
        "steps": [{"what": e.type.split(".")[2], "time": e.time.isoformat()} for e in opened],
        "personal_data": personal_fields(opened),
        "messages_to_you": deliveries,
        "note": "首问: the personal information this system holds about you for this case "
                "(PIPL Art. 45). Ask the unit to correct or erase it (Art. 46, 47).",
    }


_PAGE = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>个人信息副本 {{ c.receipt_number }}</title>
<style>body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left}
th{background:#eee}</style></head><body>
<h1>您的个人信息副本 — 受理编号 {{ c.receipt_number }}</h1>
<p>{{ c.note }}</p>
<p>生成时间 generated {{ c.generated_at }} · 状态 status {{ c.status }}</p>
<h2>我们记录的您的个人信息 Personal data recorded</h2>
<table><tr><th>时间 time</th><th>事项 event</th><th>字段 field</th><th>内容 value</th></tr>
{% for p in c.personal_data %}<tr><td>{{ p.time }}</td><td>{{ p.event }}</td>
<td>{{ p.field }}</td><td>{{ p.value }}</td></tr>{% endfor %}</table>
<h2>发给您的消息 Messages sent to you</h2>
<table><tr><th>时间</th><th>渠道 channel</th><th>地址 address</th><th>状态 state</th></tr>
{% for m in c.messages_to_you %}<tr><td>{{ m.created_at }}</td><td>{{ m.channel }}</td>
<td>{{ m.address or "" }}</td><td>{{ m.state }}</td></tr>{% endfor %}</table>
<h2>办理经过 Steps</h2><ol>{% for s in c.steps %}<li>{{ s.time }} {{ s.what }}</li>{% endfor %}
</ol></body></html>
""")


def render_html(copy: dict[str, Any]) -> str:
    return _PAGE.render(c=copy)
