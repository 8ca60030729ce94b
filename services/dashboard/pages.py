"""What each page shows, assembled from the queries, the figures and the charts.

    overview(conn, person, directory, today, weeks)  ─▶ Overview: scope, per-unit rows
        with their sections, totals, three charts (bars per unit, two weekly lines) and the
        open cases overdue or escalated, each linking to its timeline
    scope_of(person, directory)   every unit for those access.py lets read every case,
                                  else the leader's own unit
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from markupsafe import Markup

from services.cases import access
from services.dashboard import charts, queries
from services.dashboard.figures import (
    Tally,
    UnitRow,
    Week,
    attribute,
    by_unit,
    fill_weeks,
    is_overdue,
    percent,
    total,
    week_starts,
)
from services.directory.index import DirectoryIndex, Person

LEGEND = ("在办 open", "超期 overdue", "督办 escalated")


@dataclass(frozen=True)
class Overview:
    scope_label: str
    today: date
    units: list[UnitRow]
    totals: Tally
    weeks: list[Week]
    bars: Markup
    on_time_chart: Markup
    satisfaction_chart: Markup
    on_time_rate: str
    satisfaction: str
    attention: list[dict[str, Any]]


def scope_of(person: Person, directory: DirectoryIndex) -> tuple[queries.Scope, str]:
    if access.reads_all(person, directory):
        return queries.Scope(None), "全部单位 all units"
    return queries.Scope(frozenset({person.unit.id})), person.unit.name


def overview(conn: psycopg.Connection, person: Person, directory: DirectoryIndex,
             today: date, weeks: int) -> Overview:
    scope, label = scope_of(person, directory)
    sections = {sid: s.name for sid, (s, _) in directory.sections.items()}
    section_units = {sid: u.id for sid, (_, u) in directory.sections.items()}
    unit_names = {u: unit.name for u, unit in directory.units.items()}
    units = by_unit(attribute(queries.tallies(conn, scope, today), section_units),
                    scope.units, unit_names, sections)
    starts = week_starts(today, weeks)
    series = fill_weeks(queries.weeks(conn, scope, starts[0]), starts)
    answered = sum(w.answered for w in series)
    rated = sum(w.rated for w in series)
    return Overview(
        label, today, units, total(units), series,
        charts.bar_chart([(u.name, (u.tally.open, u.tally.overdue, u.tally.escalated))
                          for u in units], LEGEND, chart_id="chart-units",
                         label="各单位在办、超期、督办案件 open, overdue, escalated per unit"),
        charts.line_chart([(w.start.strftime("%m-%d"), w.on_time_rate) for w in series],
                          chart_id="chart-on-time", label="按期办结率 on-time rate by week"),
        charts.line_chart([(w.start.strftime("%m-%d"), w.satisfaction) for w in series],
                          chart_id="chart-satisfaction", colour="#2f855a",
                          label="满意率 satisfaction by week"),
        percent(sum(w.on_time for w in series) / answered if answered else None),
        percent(sum(w.satisfied for w in series) / rated if rated else None),
        _attributed(queries.needing_attention(conn, scope, today), section_units, scope),
    )


def _attributed(cases: list[dict[str, Any]], section_units: dict[str, str],
                scope: queries.Scope) -> list[dict[str, Any]]:
    """Each case with its handling unit beside its first-responder unit; within the scope
    when either is the leader's."""
    out = []
    for c in cases:
        referred_out = c["status"] == "referred_out"
        handling = None if referred_out else section_units.get(c["section_id"] or "",
                                                                c["unit_id"])
        if scope.units is None or c["unit_id"] in scope.units or handling in scope.units:
            out.append({**c, "handling_unit": handling, "referred_out": referred_out})
    return out


def summary(conn: psycopg.Connection, case_id: str, today: date) -> dict[str, Any] | None:
    found = queries.summary_of(conn, case_id)
    if found is not None:
        answered = found["replied_at"] is not None or found["completed_at"] is not None
        found["overdue"] = is_overdue(closed=found["status"] == "closed",
                                      breached=found["overdue"], due_date=found["due_date"],
                                      answered=answered, today=today)
    return found


def actor_name(directory: DirectoryIndex, actor: str) -> str:
    """``staff:ZX005`` -> ``李娜 (ZX005)``; inquirers stay anonymous; services by name."""
    kind, _, ident = actor.partition(":")
    if kind == "staff":
        person = directory.person(ident)
        return f"{person.staff.name} ({ident})" if person else ident
    if kind == "inquirer":
        return "群众 inquirer"
    return actor
