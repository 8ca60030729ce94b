"""A case's history for a dispute bundle: entries as JSON, and the same as an HTML page.

    history_of(conn, case_id, read)   the ledger's replay (services/record/history.py) with
                                      the inquirer's data unmasked (a bundle is for an
                                      authorised party, and its making is audited) and its
                                      HTML page; for a stream the ledger does not replay,
                                      entries built here from the store's events
    render_html(bundle)               the proof page: checkpoint, key, every event with its
                                      hash and commit seq (Jinja2, autoescaped, self-contained)
"""

from __future__ import annotations

from typing import Any

import orjson
import psycopg
from jinja2 import Environment

from services.common.eventstore import RecordedEvent
from services.record.history import Read, case_history
from services.record.render import render


def _label(event_type: str) -> str:
    """shouwen.case.received.v1 -> case received"""
    parts = event_type.split(".")
    if parts and parts[0] == "shouwen":
        parts = parts[1:]
    if parts and parts[-1][:1] == "v" and parts[-1][1:].isdigit():
        parts = parts[:-1]
    return " ".join(p.replace("_", " ").replace("-", " ") for p in parts)


def from_store(recorded: list[RecordedEvent]) -> list[dict[str, Any]]:
    return [
        {"version": r.event.sequence, "time": r.event.time.isoformat(),
         "recorded_at": r.recorded_at.isoformat(), "type": r.event.type,
         "what": _label(r.event.type), "actor": r.event.actor, "data": r.event.data}
        for r in recorded
    ]


def history_of(conn: psycopg.Connection, case_id: str, read: Read) -> tuple[str, Any, str | None]:
    """(where the history came from, the history as JSON values, its HTML page or None).
    The ledger's replay (who by name and post, what they did and said, deadlines in force)
    for case streams; the store's events for anything the ledger does not replay."""
    found = case_history(conn, case_id, None, True, read=read)
    if found is None:
        return "store", from_store(read[0]), None
    return "ledger", found.model_dump(mode="json"), render(found, "html")


_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>Dispute bundle — case {{ b.case_id }} — proof</title>
<style>
body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #bbb;padding:.3em .5em;
vertical-align:top;text-align:left}th{background:#eee}code,pre{font-size:.85em}
pre{white-space:pre-wrap;margin:0}.meta td:first-child{font-weight:bold;width:14em}
</style></head><body>
<h1>Case {{ b.case_id }} — events and their proof (首问 dispute bundle)</h1>
<table class="meta">
<tr><td>created</td><td>{{ b.created_at }} by {{ b.created_by }}</td></tr>
<tr><td>events</td><td>{{ b.events|length }} proven
{%- if b.not_covered %}; {{ b.not_covered|length }} later, not yet in a checkpoint
{%- endif %}</td></tr>
<tr><td>checkpoint</td><td>{{ b.checkpoint.origin }}, {{ b.checkpoint.tree_size }} events,
taken {{ b.checkpoint.time }}<br><code>root {{ b.checkpoint.root_hash }}</code></td></tr>
<tr><td>signing key</td><td><code>{{ b.key.fingerprint }}</code>
(SHA-256 of the Ed25519 key)</td></tr>
</table>
<p>Check this bundle offline: <code>shouwen verify-bundle FILE --key PUBLIC.pem</code>.</p>
<table><tr><th>#</th><th>time</th><th>what</th><th>who</th><th>details</th>
<th>hash · commit seq</th></tr>
{% for e in b.events %}{% set env = e.envelope %}
<tr><td>{{ env.sequence }}</td><td>{{ env.time }}</td><td>{{ labels[env.type] }}<br>
<small>{{ env.type }}</small></td><td>{{ env.actor }}</td>
<td><pre>{{ pretty(env.data) }}</pre></td>
<td><code>{{ e.hash[:16] }}…</code> · {{ e.seq }}</td></tr>
{% endfor %}</table>
</body></html>
"""
_ENV = Environment(autoescape=True)
_TEMPLATE = _ENV.from_string(_PAGE)


def render_html(bundle: dict[str, Any]) -> str:
    labels = {e["envelope"]["type"]: _label(e["envelope"]["type"]) for e in bundle["events"]}

    def pretty(value: Any) -> str:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()

    return _TEMPLATE.render(b=bundle, labels=labels, pretty=pretty)
