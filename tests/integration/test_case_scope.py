"""Whom a staff member's case list shows (access.scope_filter over case_index): exactly the
cases ``access.sees`` lets them see, found through indexes, not a scan of every case."""

from __future__ import annotations

from pathlib import Path

import psycopg

from services.cases import access
from services.directory.index import DirectoryIndex
from services.directory.loader import load_directory

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "directory.yaml"
CASES = 20_000


def _fill(conn: psycopg.Connection, units: list[str], staff: list[str]) -> None:
    """Cases spread over the units and staff members; some referred on to a second unit,
    some awaiting a handoff, some escalated."""
    conn.execute(
        "INSERT INTO case_index (case_id, receipt_number, unit_id, status, channel,"
        " first_responder_id, responsible_id, handler_id, awaiting_handoff_to, escalated_to,"
        " units, participants, version, opened_at, updated_at)"
        " SELECT 'C-' || n, 'R-' || n, u[1 + n %% cardinality(u)], 'in_handling', 'visit',"
        " s[1 + n %% cardinality(s)], s[1 + n %% cardinality(s)], s[1 + n %% cardinality(s)],"
        " CASE WHEN n %% 17 = 0 THEN s[1 + n * 7 %% cardinality(s)] END,"
        " CASE WHEN n %% 29 = 0 THEN ARRAY[s[1 + n * 11 %% cardinality(s)]] ELSE '{}' END,"
        " CASE WHEN n %% 13 = 0"
        "      THEN ARRAY[u[1 + n %% cardinality(u)], u[1 + n * 3 %% cardinality(u)]]"
        "      ELSE ARRAY[u[1 + n %% cardinality(u)]] END,"
        " ARRAY[s[1 + n %% cardinality(s)], s[1 + n * 5 %% cardinality(s)]], 1, now(), now()"
        " FROM generate_series(1, %(n)s) AS n, (SELECT %(units)s::text[] AS u,"
        " %(staff)s::text[] AS s) AS d",
        {"n": CASES, "units": units, "staff": staff})
    conn.execute("ANALYZE case_index")


def test_the_scope_is_what_sees_allows_and_is_answered_by_indexes(database_url):
    city = DirectoryIndex(load_directory(DEMO), 1)
    staff = sorted(city.people)
    person = next(p for p in (city.person(s) for s in staff)
                  if p is not None and not access.reads_all(p, city))
    with psycopg.connect(database_url) as conn:
        # a city of 40 units and 400 staff, the person's among them
        _fill(conn, [person.unit.id, *(f"U{i:02d}" for i in range(39))],
              [person.staff.id, *(f"S{i:03d}" for i in range(399))])
        me = person.staff.id
        for case_id, awaiting, escalated in (("C-ESC", None, [me]), ("C-AWAIT", me, []),
                                             ("C-NOT", None, [])):  # another unit's, others'
            conn.execute(
                "INSERT INTO case_index (case_id, receipt_number, unit_id, status, channel,"
                " first_responder_id, responsible_id, awaiting_handoff_to, escalated_to, units,"
                " participants, version, opened_at, updated_at) VALUES (%s, %s, 'ELSEWHERE',"
                " 'in_handling', 'visit', 'X1', 'X1', %s, %s, '{ELSEWHERE}', '{X1}', 1, now(),"
                " now())", (case_id, case_id, awaiting, escalated))
        scope, params = access.scope_filter(person, city)
        shown = {r[0] for r in conn.execute(f"SELECT case_id FROM case_index WHERE {scope}",
                                            params)}
        everything = conn.execute(
            "SELECT case_id, units, participants, awaiting_handoff_to, escalated_to"
            " FROM case_index").fetchall()
        # Whether the planner takes the indexes depends on the table's size (at 200,000 cases
        # it does); that it can, on every arm of the OR, is what is checked here: with scans
        # of the whole table ruled out, `x = ANY(arr)` would still have to scan it.
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            f"EXPLAIN SELECT count(*) FROM case_index WHERE {scope}", params))
    unit = person.unit.id
    expected = {case_id for case_id, units, participants, awaiting, escalated in everything
                if unit in units or me in participants or awaiting == me or me in escalated}
    assert shown == expected
    assert 0 < len(shown) < CASES
    assert {"C-ESC", "C-AWAIT"} <= shown and "C-NOT" not in shown
    assert "BitmapOr" in plan and "Seq Scan" not in plan


def test_who_reads_every_case_has_no_filter():
    city = DirectoryIndex(load_directory(DEMO), 1)
    reader = next(p for p in (city.person(s) for s in sorted(city.people))
                  if p is not None and access.reads_all(p, city))
    assert access.scope_filter(reader, city) == ("true", {})
