"""The leaders' figures, as plain values: per unit and section, and week by week. No I/O.

    tallies  (first-responder unit, section, referred out, open, overdue, escalated) rows
             ─▶ attribute ─▶ by_unit ─▶ UnitRow per HANDLING unit (unit totals = the sum of
             its sections, cases with no section and cases referred out included), each with
             the cases it received that another unit handles now (tracked, not in its total)
    attribution (docs/ARCHITECTURE.md, "Who a case counts for"):
             first-responder unit  the unit whose staff member received it (case unit_id)
             handling unit         the unit of the section handling it now (a cross-unit
                                   referral moves it to the receiving unit); none once the
                                   inquirer was referred to an outside body
             unit now responsible  the responsible person's unit (the first responder's,
                                   until a transfer is approved)
    weeks    {monday: Week} from the database ─▶ fill_weeks ─▶ one Week per week, oldest
             first, empty weeks kept (a gap in the chart, not a zero)

    on-time rate   answered on or before the due date / answered (cases with a verdict)
    satisfaction   rated 非常满意, 满意 or 基本满意 / rated
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

SATISFIED = ("非常满意", "满意", "基本满意")
NO_SECTION = "未分科室 no section yet"
REFERRED_OUT_ID = "referred-out"
REFERRED_OUT = "转外单位（已告知去向） referred to an outside body"


@dataclass(frozen=True)
class Tally:
    open: int = 0
    overdue: int = 0
    escalated: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.open + other.open, self.overdue + other.overdue,
                     self.escalated + other.escalated)


@dataclass(frozen=True)
class SectionRow:
    section_id: str | None
    name: str
    tally: Tally


@dataclass(frozen=True)
class UnitRow:
    unit_id: str
    name: str
    tally: Tally
    sections: list[SectionRow] = field(default_factory=list)
    # received here (first-responder unit), handled by another unit now: tracked to the end
    # (跟踪督办) but counted in the handling unit's tally, not this one's
    tracked: list[SectionRow] = field(default_factory=list)


@dataclass(frozen=True)
class Attributed:
    first_unit: str  # 首问单位
    handling_unit: str | None  # 承办单位; None: the inquirer was referred to an outside body
    section_id: str | None
    tally: Tally


def attribute(rows: Iterable[tuple[str, str | None, bool, int, int, int]],
              section_units: Mapping[str, str]) -> list[Attributed]:
    """(first-responder unit, section, referred out, open, overdue, escalated) rows -> who
    handles each group now: the unit of its section, else the first-responder unit."""
    out = []
    for first, section, referred_out, open_, overdue, escalated in rows:
        handling = None if referred_out else (
            section_units.get(section, first) if section else first)
        out.append(Attributed(first, handling, section, Tally(open_, overdue, escalated)))
    return out


def by_unit(groups: Iterable[Attributed], scope: frozenset[str] | None,
            unit_names: Mapping[str, str], section_names: Mapping[str, str]) -> list[UnitRow]:
    """Per handling unit in ``scope`` (None: every unit), with its sections; cases referred
    out stay with their first-responder unit, labelled; each unit also lists what it
    received that another unit handles now."""
    rows: list[tuple[str, str | None, int, int, int]] = []
    tracked: dict[str, list[SectionRow]] = {}
    for g in groups:
        home = g.handling_unit or g.first_unit
        if scope is None or home in scope:
            section = g.section_id if g.handling_unit is not None else REFERRED_OUT_ID
            rows.append((home, section, g.tally.open, g.tally.overdue, g.tally.escalated))
        if (g.handling_unit not in (None, g.first_unit)
                and (scope is None or g.first_unit in scope)):
            assert g.handling_unit is not None
            where = unit_names.get(g.handling_unit, g.handling_unit)
            section = section_names.get(g.section_id or "", g.section_id or "")
            tracked.setdefault(g.first_unit, []).append(
                SectionRow(g.section_id, f"→ {where} {section}".rstrip(), g.tally))
    names = {**section_names, REFERRED_OUT_ID: REFERRED_OUT}
    units = {u.unit_id: u for u in group_units(rows, unit_names, names)}
    for unit, items in tracked.items():
        base = units.get(unit) or UnitRow(unit, unit_names.get(unit, unit), Tally())
        units[unit] = UnitRow(base.unit_id, base.name, base.tally, base.sections,
                              sorted(items, key=lambda s: s.name))
    return [units[u] for u in sorted(units)]


def group_units(rows: Iterable[tuple[str, str | None, int, int, int]],
                unit_names: Mapping[str, str], section_names: Mapping[str, str]
                ) -> list[UnitRow]:
    """Rows of (unit_id, section_id, open, overdue, escalated) -> units with their sections,
    in unit-id order; a unit's tally is the sum of its rows."""
    by_unit: dict[str, list[SectionRow]] = {}
    for unit, section, open_, overdue, escalated in rows:
        name = section_names.get(section, section) if section else NO_SECTION
        by_unit.setdefault(unit, []).append(
            SectionRow(section, name or NO_SECTION, Tally(open_, overdue, escalated)))
    units = []
    for unit, sections in sorted(by_unit.items()):
        total = sum((s.tally for s in sections), Tally())
        ordered = sorted(sections, key=lambda s: (s.section_id is None, s.section_id or ""))
        units.append(UnitRow(unit, unit_names.get(unit, unit), total, ordered))
    return units


def is_overdue(*, closed: bool, breached: bool, due_date: date | None, answered: bool,
               today: date) -> bool:
    """A breach deadline-watch recorded, or (if it recorded none) unanswered past the due
    date: the same rule as the SQL in queries.py."""
    late = due_date is not None and due_date < today and not answered
    return not closed and (breached or late)


def total(units: Iterable[UnitRow]) -> Tally:
    return sum((u.tally for u in units), Tally())


@dataclass(frozen=True)
class Week:
    start: date  # Monday
    answered: int = 0
    on_time: int = 0
    rated: int = 0
    satisfied: int = 0

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.answered if self.answered else None

    @property
    def satisfaction(self) -> float | None:
        return self.satisfied / self.rated if self.rated else None


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_starts(today: date, weeks: int) -> list[date]:
    """The Mondays of the last ``weeks`` weeks, this one included, oldest first."""
    last = monday(today)
    return [last - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]


def fill_weeks(found: Mapping[date, Week], starts: Iterable[date]) -> list[Week]:
    return [found.get(start, Week(start)) for start in starts]


def percent(value: float | None) -> str:
    return "—" if value is None else f"{round(value * 100)}%"
