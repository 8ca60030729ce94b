"""A unit's yearly evaluation (考评) computed from the event store, beside a bare read.

    setup     the demo directory; N cases of one unit (the centre, ZWFWZX) this year, spread
              over its staff, each replied, most completed and rated, some with deadline
              events: ~5 events a case, written through CaseRepository like intake
    baseline  the same two queries, rows fetched and thrown away: the case ids of the unit's
              year from case_index, then the fields the evaluation needs from those cases'
              events (the minimum any evaluation reads)
    value     views.evaluation_of(conn, "unit", ...): the same reads plus folding them into
              the rates, the ratings and the score, as GET /v1/evaluation/units/{id} does
    also      one person's evaluation (a tenth of the cases) in the same way

Best of ROUNDS each (the machine is shared). run(pg_url, quick) -> figure rows;
``--quick``: 300 cases (a smoke test of the harness, not a figure).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool

from bench.common import figure
from events import EventPayload, new_event, registered_types
from events.case_outcome import CaseCompleted, CaseRated, CaseReplied, Outcome
from events.case_outcome import SatisfactionLevel as Level
from events.deadline import DeadlineMet, Obligation
from events.fields import Channel
from services.accountability import facts
from services.accountability.views import evaluation_of
from services.calendar.builtin import today
from services.cases.repository import CaseRepository
from services.common.eventstore import kind_of
from services.directory.index import DirectoryIndex
from services.directory.loader import load_directory
from services.directory.store import put_in_force
from services.intake.register import Inquiry, register_inquiry

DEMO_DIRECTORY = Path(__file__).resolve().parents[1] / "deploy" / "demo" / "directory.yaml"
UNIT, STAFF = "ZWFWZX", ("ZX005", "ZX006", "ZX009", "ZX013", "ZX004")
ROUNDS, BATCH = 5, 250
LEVELS = list(Level)


# The minimum any evaluation reads: the fields it needs, by every version of its kinds
BARE_TYPES = sorted(t for t in registered_types() if kind_of(t) in facts.KINDS)
BARE_EVENTS = """
    SELECT e.stream_id, e.type, e.data->>'outcome', e.data->>'level', e.data->>'score',
           e.data->>'obligation', coalesce((e.data->>'on_time')::boolean, false),
           coalesce((e.data->>'cancelled')::boolean, false)
    FROM events e WHERE e.stream_id = ANY(%s) AND e.type = ANY(%s)
    ORDER BY e.stream_id, e.version"""


def _follow_ups(i: int) -> list[EventPayload]:
    out: list[EventPayload] = [CaseReplied(answer="已答复", channel=Channel.phone)]
    if i % 4:
        out.append(CaseCompleted(outcome=Outcome.resolved if i % 3 else Outcome.explained,
                                 summary="办结"))
        out.append(CaseRated(level=LEVELS[i % 5], anonymous=True))
    if i % 2:
        out.append(DeadlineMet(obligation=Obligation.reply, due_at=datetime.now(UTC),
                               on_time=bool(i % 3)))
    return out


def prepare(pg_url: str, n: int) -> None:
    directory = load_directory(DEMO_DIRECTORY)
    put_in_force(pg_url, directory, actor="system:bench", source=str(DEMO_DIRECTORY))
    index = DirectoryIndex(directory, 1)
    with ConnectionPool(pg_url, min_size=1, max_size=2) as pool:
        repo = CaseRepository(pool)
        for start in range(0, n, BATCH):
            with pool.connection() as conn, conn.transaction():
                opened = []
                for i in range(start, min(n, start + BATCH)):
                    person = index.person(STAFF[i % len(STAFF)])
                    assert person is not None
                    receipt = register_inquiry(repo, conn, person, Inquiry(
                        channel=Channel.phone, matter="咨询", inquirer_name="王小明",
                        inquirer_phone="13912345678"))
                    opened.append((i, receipt.case_id))
                items = []
                for i, case_id in opened:
                    state = repo.load(case_id, conn)
                    items.append((state, [new_event(p, subject=case_id, actor="staff:ZX005")
                                          for p in _follow_ups(i)]))
                repo.append_many(items, conn)


def _best_of(baseline: Callable[[], Any], value: Callable[[], Any]) -> tuple[float, float]:
    """The best ms of each, in turns (a warm cache for both)."""
    times: list[list[float]] = [[], []]
    for _ in range(ROUNDS):
        for i, work in enumerate((baseline, value)):
            started = time.perf_counter()
            work()
            times[i].append((time.perf_counter() - started) * 1000)
    return min(times[0]), min(times[1])


def run(pg_url: str, quick: bool | None = None) -> list[dict[str, Any]]:
    """``pg_url``: a migrated, empty database of its own."""
    if quick is None:
        quick = os.environ.get("SHOUWEN_BENCH_QUICK") == "1"
    n = 300 if quick else 10_000
    prepare(pg_url, n)
    year = today().year
    start, end = facts.year_bounds(year)
    with ConnectionPool(pg_url, min_size=1, max_size=1) as pool, pool.connection() as conn:
        def bare(column: str, subject: str) -> None:
            ids = [r[0] for r in conn.execute(
                f"SELECT case_id FROM case_index WHERE {column} = %s AND opened_at >= %s"
                " AND opened_at < %s", (subject, start, end))]
            conn.execute(BARE_EVENTS, (ids, BARE_TYPES)).fetchall()

        unit_base, unit = _best_of(lambda: bare("unit_id", UNIT),
                                   lambda: evaluation_of(conn, "unit", UNIT, year))
        person_base, person = _best_of(lambda: bare("responsible_id", STAFF[0]),
                                       lambda: evaluation_of(conn, "staff", STAFF[0], year))
        check = evaluation_of(conn, "unit", UNIT, year)
        assert check.rates.received == n, check.rates
    unit_row = figure(f"evaluation: one unit's year, {n:,} cases (best of {ROUNDS})", unit,
                      "ms", unit_base)
    unit_row.update(goal="< 1000 ms", passed=unit < 1000)
    person_row = figure(f"evaluation: one person's year, {n // len(STAFF):,} cases", person,
                        "ms", person_base)
    person_row.update(goal="< 200 ms", passed=person < 200)
    return [unit_row, person_row]


def main(argv: list[str] | None = None) -> int:
    import argparse

    from bench.common import fresh_database, postgres, print_table

    parser = argparse.ArgumentParser(prog="python -m bench.accountability_bench")
    parser.add_argument("--quick", action="store_true", help="a short smoke test")
    quick = parser.parse_args(argv).quick or None
    with postgres() as admin_url, fresh_database(admin_url) as url:
        result = run(url, quick=quick)
    print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
