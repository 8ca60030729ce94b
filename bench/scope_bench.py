"""A staff member's case list at city scale: the scope filter answered by indexes.

    fill      CASES rows of case_index over 40 units and 400 staff (some cases referred on
              to a second unit, some awaiting a handoff, some escalated), then ANALYZE
    list      services.intake.queries.list_cases for a section's staff member (the newest
              50 of the cases they may see, and how many there are), PAGES times
    baseline  the same two statements with the scope written as before migration 0016
              (``x = ANY(units)`` ...: no index can take it, so every case is scanned)

``python -m bench.scope_bench [--quick]`` runs it alone (embedded PostgreSQL when
DATABASE_URL is unset).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.common import figure, fresh_database
from services.cases import access
from services.directory.index import DirectoryIndex, Person
from services.directory.loader import load_directory
from services.intake.queries import list_cases

DEMO = Path(__file__).resolve().parents[1] / "deploy" / "demo" / "directory.yaml"
CASES, QUICK_CASES = 200_000, 5_000
PAGES, QUICK_PAGES = 20, 3
UNITS, STAFF = 40, 400
_FILL = """
INSERT INTO case_index (case_id, receipt_number, unit_id, status, channel, first_responder_id,
    responsible_id, handler_id, awaiting_handoff_to, escalated_to, units, participants,
    version, opened_at, updated_at)
SELECT 'C-' || n, 'R-' || n, u[1 + n %% cardinality(u)],
       CASE WHEN n %% 3 = 0 THEN 'closed' ELSE 'in_handling' END, 'visit',
       s[1 + n %% cardinality(s)], s[1 + n %% cardinality(s)], s[1 + n %% cardinality(s)],
       CASE WHEN n %% 50 = 0 THEN s[1 + n * 7 %% cardinality(s)] END,
       CASE WHEN n %% 30 = 0 THEN ARRAY[s[1 + n * 11 %% cardinality(s)]] ELSE '{}' END,
       CASE WHEN n %% 13 = 0
            THEN ARRAY[u[1 + n %% cardinality(u)], u[1 + n * 3 %% cardinality(u)]]
            ELSE ARRAY[u[1 + n %% cardinality(u)]] END,
       ARRAY[s[1 + n %% cardinality(s)], s[1 + n * 5 %% cardinality(s)]], 1,
       now() - make_interval(mins => n), now()
FROM generate_series(1, %(cases)s) AS n,
     (SELECT %(units)s::text[] AS u, %(staff)s::text[] AS s) AS city
"""
# The scope as it was written before migration 0016.
_SCAN_SCOPE = ("(%(scope_unit)s = ANY(units) OR %(scope_me)s = ANY(participants)"
               " OR awaiting_handoff_to = %(scope_me)s OR %(scope_me)s = ANY(escalated_to))")


def staff_member(directory: DirectoryIndex) -> Person:
    """A section's staff member: sees their unit's cases and those they are named on."""
    return next(p for p in (directory.person(s) for s in sorted(directory.people))
                if p is not None and p.staff.section and not access.reads_all(p, directory))


def fill(url: str, person: Person, cases: int) -> None:
    units = [person.unit.id, *(f"U{i:02d}" for i in range(UNITS - 1))]
    staff = [person.staff.id, *(f"S{i:03d}" for i in range(STAFF - 1))]
    with psycopg.connect(url) as conn:
        conn.execute(_FILL, {"units": units, "staff": staff, "cases": cases})
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE case_index")  # as autovacuum would have


def _scan_page(conn: psycopg.Connection, person: Person) -> int:
    params = {"scope_unit": person.unit.id, "scope_me": person.staff.id}
    row = conn.execute(f"SELECT count(*) FROM case_index WHERE {_SCAN_SCOPE}", params).fetchone()
    conn.execute(f"SELECT case_id FROM case_index WHERE {_SCAN_SCOPE}"
                 " ORDER BY opened_at DESC, case_id DESC LIMIT 50", params).fetchall()
    return int(row[0]) if row else 0


def pages_per_second(url: str, directory: DirectoryIndex, person: Person, pages: int
                     ) -> tuple[float, float]:
    with psycopg.connect(url, autocommit=True) as conn:
        page = list_cases(conn, directory, person)  # warm, and the two must agree
        if page.total != _scan_page(conn, person) or not page.items:
            raise RuntimeError("the indexed scope and the scanned one disagree")
        started = time.perf_counter()
        for _ in range(pages):
            list_cases(conn, directory, person)
        indexed = pages / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(pages):
            _scan_page(conn, person)
        scanned = pages / (time.perf_counter() - started)
    return indexed, scanned


def run(pg_url: str, quick: bool = False) -> list[dict[str, Any]]:
    cases, pages = (QUICK_CASES, QUICK_PAGES) if quick else (CASES, PAGES)
    directory = DirectoryIndex(load_directory(DEMO), 1)
    person = staff_member(directory)
    fill(pg_url, person, cases)
    indexed, scanned = pages_per_second(pg_url, directory, person, pages)
    return [figure(f"a staff member's case list over {cases:,} cases in {UNITS} units"
                   " (newest 50 and the count)", indexed, "pages/s", baseline=scanned,
                   goal_ratio=None if quick else 2.0)]


if __name__ == "__main__":
    from bench.common import postgres, print_table

    with postgres() as admin, fresh_database(admin) as url:
        print_table(run(url, quick="--quick" in sys.argv))
