"""An official schedule file (YAML) -> Schedule, refusing a bad file with the line and reason.

    calendar: CN                 # optional when `--calendar` names it
    country: CN                  # whose library rules fill the years no schedule covers
    year: 2026
    notice: 国务院办公厅关于2026年部分节假日安排的通知
    holidays:                    # days off, a day or an inclusive range
      - {name: 国庆节 National Day, from: 2026-10-01, to: 2026-10-07}
    make_up_working_days:        # weekend days worked instead (调休上班)
      - {date: 2026-10-10, for: 国庆节 National Day}

The YAML node tree is walked directly so every problem names the line it is on.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from services.calendar.rules import Schedule, country_of, known_country

CALENDAR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TOP = {"calendar", "country", "year", "notice", "holidays", "make_up_working_days"}
_MAX_BREAK = 31  # days: no official break is longer; a longer range is a typo


@dataclass(frozen=True)
class ScheduleFile:
    schedule: Schedule
    document: dict[str, Any]  # what was loaded, as JSON: names, notice, ranges
    sha256: str  # of the file's bytes


class ScheduleFileError(ValueError):
    """A schedule file that cannot be loaded; ``problems`` are (line, reason) pairs."""

    def __init__(self, source: str, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{source}:{line}: {why}" for line, why in problems))


def read_schedule(path: Path, calendar_id: str | None = None) -> ScheduleFile:
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScheduleFileError(str(path), [(0, f"cannot read the file: {exc}")]) from None
    return parse_schedule(text, str(path), calendar_id, hashlib.sha256(raw).hexdigest())


def parse_schedule(text: str, source: str = "<schedule>", calendar_id: str | None = None,
                   sha256: str | None = None) -> ScheduleFile:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        checker = _Checker()
        result = checker.file(root, calendar_id)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ScheduleFileError(source, [(mark.line + 1 if mark else 0,
                                          f"not valid YAML: {exc}")]) from None
    except RecursionError:
        raise ScheduleFileError(source, [(0, "nested too deep to be a schedule")]) from None
    if checker.problems or result is None:
        raise ScheduleFileError(source, checker.problems or [(1, "empty file")])
    schedule, document = result
    digest = sha256 or hashlib.sha256(text.encode()).hexdigest()
    return ScheduleFile(schedule, document, digest)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _Checker:
    def __init__(self) -> None:
        self.problems: list[tuple[int, str]] = []

    def bad(self, node: yaml.Node, reason: str) -> None:
        self.problems.append((_line(node), reason))

    def mapping(self, node: yaml.Node, where: str) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.bad(node, f"{where}: must be a mapping")
            return None
        return {str(k.value): v for k, v in node.value}

    def scalar(self, node: yaml.Node, where: str) -> Any:
        value = None
        if isinstance(node, yaml.ScalarNode):
            try:
                value = yaml.constructor.SafeConstructor().construct_object(node)
            except (yaml.YAMLError, ValueError):
                value = node.value  # e.g. 2026-02-30: reported as "not a date" below
        if value is not None:
            return value
        self.bad(node, f"{where}: must be a single value")
        return None

    def day(self, node: yaml.Node, where: str, year: int) -> date | None:
        value = self.scalar(node, where)
        if isinstance(value, str):
            with suppress(ValueError):
                value = date.fromisoformat(value)
        if not isinstance(value, date):
            if value is not None:
                self.bad(node, f"{where}: {value!r} is not a date (YYYY-MM-DD)")
            return None
        if value.year != year:
            self.bad(node, f"{where}: {value} is not in {year}, the year this file is for")
            return None
        return value

    def file(self, root: yaml.Node | None,
             calendar_id: str | None) -> tuple[Schedule, dict[str, Any]] | None:
        top = self.mapping(root, "(top)") if root is not None else None
        if top is None:
            return None
        for key in top.keys() - _TOP:
            self.bad(top[key], f"{key}: unknown key (expected one of {', '.join(sorted(_TOP))})")
        cid = calendar_id or (self.scalar(top["calendar"], "calendar") if "calendar" in top
                              else None)
        if not isinstance(cid, str) or not CALENDAR_ID.match(cid):
            self.bad(top.get("calendar", root), f"calendar: {cid!r} is not a calendar id "
                     "(letters, digits, - _ .; or give --calendar)")
            cid = None
        country = self.scalar(top["country"], "country") if "country" in top else (
            country_of(cid) if cid else None)
        if not isinstance(country, str) or not known_country(country):
            self.bad(top.get("country", root), f"country: {country!r} is not a country the "
                     "holidays library knows (e.g. CN); name it with 'country:'")
        year = self.scalar(top["year"], "year") if "year" in top else None
        if not isinstance(year, int) or isinstance(year, bool) or not 1949 <= year <= 2200:
            self.bad(top.get("year", root), f"year: {year!r} must be a year such as 2026")
            return None
        off, breaks = self.holidays(top.get("holidays"), year, root)
        on, make_up = self.make_up(top.get("make_up_working_days"), year, off)
        if self.problems or cid is None or not isinstance(country, str):
            return None
        notice = top.get("notice")
        document = {"calendar": cid, "country": country, "year": year,
                    "notice": str(self.scalar(notice, "notice")) if notice else None,
                    "holidays": breaks, "make_up_working_days": make_up}
        return Schedule(cid, year, country, frozenset(off), frozenset(on)), document

    def holidays(self, node: yaml.Node | None, year: int,
                 root: yaml.Node) -> tuple[dict[date, str], list[dict[str, Any]]]:
        off: dict[date, str] = {}
        breaks: list[dict[str, Any]] = []
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.bad(node or root, "holidays: required, a list of the year's days off")
            return off, breaks
        for i, item in enumerate(node.value):
            where = f"holidays.{i}"
            entry = self.mapping(item, where)
            if entry is None:
                continue
            for key in entry.keys() - {"name", "date", "from", "to"}:
                self.bad(entry[key], f"{where}.{key}: unknown key (name, date, or from and to)")
            name = self.scalar(entry["name"], f"{where}.name") if "name" in entry else None
            if not name:
                self.bad(item, f"{where}.name: required (e.g. 国庆节 National Day)")
            if "date" in entry:
                first = last = self.day(entry["date"], f"{where}.date", year)
            elif "from" in entry and "to" in entry:
                first = self.day(entry["from"], f"{where}.from", year)
                last = self.day(entry["to"], f"{where}.to", year)
            else:
                self.bad(item, f"{where}: give 'date', or 'from' and 'to'")
                continue
            if first is None or last is None:
                continue
            if not 0 <= (last - first).days < _MAX_BREAK:
                self.bad(item, f"{where}: from {first} to {last} is not a break of 1 to "
                         f"{_MAX_BREAK} days")
                continue
            for n in range((last - first).days + 1):
                day = first + timedelta(days=n)
                if day in off:
                    self.bad(item, f"{where}: {day} is already a holiday ({off[day]})")
                off[day] = str(name)
            breaks.append({"name": str(name), "from": first.isoformat(), "to": last.isoformat()})
        return off, breaks

    def make_up(self, node: yaml.Node | None, year: int,
                off: dict[date, str]) -> tuple[set[date], list[dict[str, Any]]]:
        on: set[date] = set()
        listed: list[dict[str, Any]] = []
        if node is None:
            return on, listed
        if not isinstance(node, yaml.SequenceNode):
            self.bad(node, "make_up_working_days: must be a list")
            return on, listed
        for i, item in enumerate(node.value):
            where = f"make_up_working_days.{i}"
            entry = self.mapping(item, where)
            if entry is None:
                continue
            for key in entry.keys() - {"date", "for"}:
                self.bad(entry[key], f"{where}.{key}: unknown key (date, for)")
            if "date" not in entry:
                self.bad(item, f"{where}.date: required")
                continue
            day = self.day(entry["date"], f"{where}.date", year)
            if day is None:
                continue
            if day.weekday() < 5:
                self.bad(item, f"{where}.date: {day} is a {day:%A}, already a working day")
            elif day in off or day in on:
                self.bad(item, f"{where}.date: {day} is listed twice (or also as a holiday)")
            on.add(day)
            reason = self.scalar(entry["for"], f"{where}.for") if "for" in entry else None
            listed.append({"date": day.isoformat(), "for": str(reason) if reason else None})
        return on, listed
