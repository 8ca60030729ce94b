"""history.pdf: a bundle's history for print and for the court file (ReportLab).

    heading    case, who made the bundle and when, the checkpoint (origin, size, root,
               time), the key's fingerprint, how to verify
    table      one row per step: the ledger's replay (who by name and post, what they did
               and said) when the bundle carries it, else each event's type, actor and data
    footer     each event's hash and commit seq, so a page can be matched to bundle.json

Chinese is set in ReportLab's built-in STSong-Light CID font: no font file to ship or find,
and PDF readers supply the glyphs.
"""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

import orjson
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
_BODY = ParagraphStyle("body", fontName=FONT, fontSize=8.5, leading=11)
_HEAD = ParagraphStyle("head", fontName=FONT, fontSize=14, leading=18, spaceAfter=6)


def _p(text: Any) -> Paragraph:
    return Paragraph(escape(str(text if text is not None else "")).replace("\n", "<br/>"), _BODY)


def _steps(doc: dict[str, Any]) -> list[list[Any]]:
    history = doc.get("history")
    if doc.get("history_source") == "ledger" and isinstance(history, dict):
        rows = [["#", "time", "who", "did", "said", "responsible after"]]
        for s in history.get("steps", []):
            actor = s.get("actor") or {}
            who = " · ".join(str(x) for x in (actor.get("name") or actor.get("ref"),
                                              actor.get("post"), actor.get("unit_name")) if x)
            rows.append([s.get("version"), s.get("time"), who, s.get("did"), s.get("said"),
                         s.get("responsible_name")])
        return rows
    rows = [["#", "time", "who", "what", "details", ""]]
    for e in doc["events"]:
        env = e["envelope"]
        rows.append([env["sequence"], env["time"], env["actor"], env["type"],
                     orjson.dumps(env["data"], option=orjson.OPT_INDENT_2).decode(), ""])
    return rows


def render_pdf(doc: dict[str, Any]) -> bytes:
    cp = doc["checkpoint"]
    buf = io.BytesIO()
    page = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=12 * mm,
                             rightMargin=12 * mm, topMargin=12 * mm, bottomMargin=12 * mm,
                             title=f"Dispute bundle, case {doc['case_id']}",
                             author=doc["created_by"], creator="shouwen bundle")
    meta = [
        f"created {doc['created_at']} by {doc['created_by']}",
        f"checkpoint {cp['origin']} #{cp['tree_size']}, taken {cp['time']},"
        f" root {cp['root_hash']}",
        f"signing key (SHA-256 of the Ed25519 key) {doc['key']['fingerprint']}",
        f"{len(doc['events'])} event(s) proven; {len(doc['not_covered'])} later, not yet in a"
        " checkpoint. Verify offline: shouwen verify-bundle FILE --key PUBLIC.pem",
    ]
    widths = [10 * mm, 38 * mm, 55 * mm, 60 * mm, 75 * mm, 35 * mm]
    table = Table([[_p(c) for c in row] for row in _steps(doc)], colWidths=widths,
                  repeatRows=1)
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    seals = [f"v{e['envelope']['sequence']} seq {e['seq']} {e['hash']}" for e in doc["events"]]
    page.build([
        Paragraph(escape(f"案件 {doc['case_id']} — 首问 dispute bundle"), _HEAD),
        *[_p(line) for line in meta], Spacer(1, 4 * mm), table, Spacer(1, 4 * mm),
        _p("event hashes: " + "; ".join(seals)),
    ])
    return buf.getvalue()
