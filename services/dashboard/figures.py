"""The leaders' figures, as plain values: per unit and section, and week by week. No I/O.

    tallies  (unit, section, open, overdue, escalated) rows ─▶ group_units ─▶ UnitRow
             (unit totals = the sum of its sections, cases with no section included)
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
NO_SECTION = "—"


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
