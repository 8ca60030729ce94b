"""Retention (PIPL Art. 19, "the shortest period necessary"): per-unit policy, legal holds,
and the job that erases what is due.

    pii_unit_policy   unit -> years after closing (NULL: kept), full-export roles
    pii_holds         case -> open legal holds (dispute, investigation, a court's order)
    run_retention(pool)   inquirers not yet erased whose every case is closed longer ago
                          than its unit's period ─▶ erase_inquirer (ground: retention),
                          unless a case of theirs is held: by a legal hold, or by an
                          accountability procedure not closed (counted as held, kept)

The job runs as ``shouwen retention run --every S`` (its own process; in ``make up`` every
hour) and counts what it erased and held in shouwen_pii_retention_{erased,held}_total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from psycopg_pool import ConnectionPool

from events.inquirer import ErasureGround
from services.personal.erase import ErasureRefused, Scrub, erase_inquirer
from services.personal.policy import full_export_roles, set_policy

__all__ = ["full_export_roles", "run_retention", "set_policy"]


@dataclass
class RetentionReport:
    erased: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"retention: {len(self.erased)} inquirer(s) erased, {len(self.held)} held"
                + (f" ({', '.join(self.held)})" if self.held else ""))


_METRICS: dict[int, tuple[Counter, Counter]] = {}


def retention_metrics(registry: CollectorRegistry = REGISTRY) -> tuple[Counter, Counter]:
    if id(registry) not in _METRICS:
        _METRICS[id(registry)] = (
            Counter("shouwen_pii_retention_erased", "Inquirers erased by the retention job",
                    registry=registry),
            Counter("shouwen_pii_retention_held", "Inquirers due for erasure but held (legal "
                    "hold or open accountability procedure), per run", registry=registry))
    return _METRICS[id(registry)]


# Every not-erased inquirer whose cases are all closed past their unit's period; with
# whether one of those cases is held.
_DUE = """
SELECT p.inquirer_ref,
       bool_or(EXISTS (SELECT 1 FROM pii_holds h WHERE h.case_id = p.case_id
                       AND h.released_at IS NULL)
               OR EXISTS (SELECT 1 FROM accountability_procedures a
                          WHERE a.case_id = p.case_id AND a.stage <> 'closed')) AS held
FROM pii_cases p
JOIN pii_keys k ON k.ref = p.inquirer_ref AND k.erased_at IS NULL
LEFT JOIN case_summary s ON s.case_id = p.case_id
LEFT JOIN pii_unit_policy u ON u.unit_id = s.unit_id
GROUP BY p.inquirer_ref
HAVING bool_and(s.closed_at IS NOT NULL AND u.years IS NOT NULL
                AND s.closed_at < now() - make_interval(years => u.years))
ORDER BY p.inquirer_ref
"""


def due(conn: psycopg.Connection) -> list[tuple[str, bool]]:
    return [(r[0], bool(r[1])) for r in conn.execute(_DUE)]


def run_retention(pool: ConnectionPool, actor: str = "system:retention",
                  registry: CollectorRegistry = REGISTRY,
                  scrub: Sequence[Scrub] = ()) -> RetentionReport:
    erased_total, held_total = retention_metrics(registry)
    report = RetentionReport()
    with pool.connection() as conn:
        todo = due(conn)
    for ref, held in todo:
        if held:
            report.held.append(ref)
            continue
        try:
            erase_inquirer(pool, ref, by=actor, reason="retention period ended",
                           ground=ErasureGround.retention, via="job", scrub=scrub)
            report.erased.append(ref)
        except ErasureRefused:
            report.held.append(ref)
    erased_total.inc(len(report.erased))
    held_total.inc(len(report.held))
    return report


def place_hold(conn: psycopg.Connection, case_id: str, reason: str, actor: str) -> None:
    conn.execute("INSERT INTO pii_holds (case_id, reason, placed_by) VALUES (%s, %s, %s)",
                 (case_id, reason, actor))


def release_holds(conn: psycopg.Connection, case_id: str, actor: str) -> int:
    cur = conn.execute("UPDATE pii_holds SET released_at = now(), released_by = %s"
                       " WHERE case_id = %s AND released_at IS NULL", (actor, case_id))
    return cur.rowcount
