"""A case history for people: ``render(history, "text" | "json" | "html") -> str``.

    text   one paragraph per event: version, time, who (name, post, unit), what they did,
           what they said, the deadline in force, who held responsibility; the hash-chain
           verdict first and last, so it cannot be missed
    json   the CaseHistory model as JSON
    html   templates/history.html (Jinja2, autoescaped, no external resources)
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape

from services.record.models import CaseHistory

FORMATS = ("text", "json", "html")
_ENV = Environment(loader=PackageLoader("services.record", "templates"),
                   autoescape=select_autoescape(["html"]))


def render(history: CaseHistory, fmt: str) -> str:
    if fmt == "json":
        return history.model_dump_json(indent=2)
    if fmt == "html":
        return _ENV.get_template("history.html").render(h=history)
    if fmt == "text":
        return _text(history)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")


def _text(h: CaseHistory) -> str:
    verdict = h.verification.summary()
    out = [f"case {h.receipt_number} ({h.case_id}), unit {h.unit_id}",
           f"as of {h.as_of.isoformat() if h.as_of else 'now'}:"
           f" {len(h.steps)} of {h.events_total} event(s)",
           verdict, ""]
    for s in h.steps:
        who = s.actor.name or s.actor.ref
        if s.actor.post:
            who += f", {s.actor.post}, {s.actor.unit_name}"
        out.append(f"#{s.version} {s.time.isoformat()}  {who}")
        out.append(f"    {s.did}")
        if s.said:
            out.append(f"    said: {s.said}")
        out.append(f"    deadline in force: {s.deadline_in_force or '-'};"
                   f" responsible: {s.responsible_name} ({s.responsible_id}); status {s.status}")
    if h.state is not None:
        out += ["", f"state: {h.state['status']}, responsible {h.state['responsible_name']}"
                    f" ({h.state['responsible_id']}), handler {h.state['handler_name'] or '-'}",
                "seven haves: " + ("all present" if not h.missing_haves
                                   else "missing " + ", ".join(h.missing_haves))]
    out += ["", verdict]
    return "\n".join(out) + "\n"
