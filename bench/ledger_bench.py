"""The ledger's read side, each figure beside a raw read of the same rows in the same run.

    replay    case_history of one case with 100 events (the stream, its commit_log rows,
              the directory version in force, the hash chain recomputed, every actor
              resolved, the projection folded step by step): p50 / p99 over many runs
              vs   SELECT of the same 100 event rows, fetched (p50 / p99)
    rebuild   rebuild_from_store over CASES cases x 10 events (commit order, the projection
              in memory, COPY into the emptied tables, one transaction): events/s
              vs   the same commit_log ⋈ events rows read with the same server-side cursor

Goals (issue 5): replay p99 < 20 ms; rebuild >= 20,000 events/s. The demo directory is in
force, so actors are resolved against a real one. Everything runs on one connection, warm.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.common import figure, fresh_database, postgres, print_table
from events import CloudEvent, new_event
from events.case import CaseAccepted, CaseReceived, TimeLimit
from events.case_outcome import CaseClosed, CaseCompleted, CaseRated, CaseReplied
from events.deadline import DeadlineMet, DeadlineSet, DeadlineWarned
from events.fields import StaffMember
from events.registry import EventPayload
from services.common.eventstore import EventStore
from services.directory.loader import load_directory
from services.directory.store import put_in_force
from services.ledger.rebuild import _SELECT, rebuild_from_store
from services.record.history import case_history
from services.relay.sequencer import sequence_pass

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
LINA = StaffMember(id="ZX005", name="李娜", duty="综合受理窗口", contact="0935-8100105")
CASES, QUICK_CASES = 6_000, 300
REPLAYS, QUICK_REPLAYS = 400, 40


def received(case_id: str) -> CaseReceived:
    return CaseReceived(channel="visit", receipt_number=f"R-{case_id}", unit_id="ZWFWZX",
                        matter="补办社会保障卡，原卡遗失", inquirer_name="张三",
                        inquirer_phone="13800000000", first_responder_id="ZX005",
                        first_responder_name="李娜", first_responder_duty="综合受理窗口",
                        first_responder_contact="0935-8100105")


def ten_events(case_id: str) -> list[tuple[EventPayload, str]]:
    due = T0 + timedelta(days=4)
    deadline = DeadlineSet(obligation="complete", due_at=due, calendar_id="CN",
                           limit_working_days=4, responsible_id="ZX005")
    return [
        (received(case_id), "staff:ZX005"),
        (CaseAccepted(handler=LINA, time_limit=TimeLimit(working_days=4,
                                                         due_date=date(2026, 11, 6))),
         "staff:ZX005"),
        (deadline, "service:deadline-watch"),
        (DeadlineWarned(obligation="complete", due_at=due, working_days_left=1),
         "service:deadline-watch"),
        (CaseReplied(answer="已答复：请携带身份证领取", channel="phone"), "staff:ZX005"),
        (DeadlineMet(obligation="complete", due_at=due, on_time=True), "service:deadline-watch"),
        (CaseCompleted(outcome="resolved", summary="已制卡"), "staff:ZX005"),
        (CaseClosed(reason="completed"), "staff:ZX005"),
        (CaseRated(level="满意", anonymous=True), f"inquirer:R-{case_id}"),
        (deadline, "service:deadline-watch"),
    ]


def case_events(case_id: str, steps: list[tuple[EventPayload, str]]) -> list[CloudEvent]:
    return [new_event(p, subject=case_id, actor=a, time=T0 + timedelta(minutes=n))
            for n, (p, a) in enumerate(steps)]


def hundred_events(case_id: str) -> list[CloudEvent]:
    """Received, accepted, then 98 deadline moves / warnings / replies: 100 in all."""
    steps = ten_events(case_id)[:2]
    for n in range(98):
        due = T0 + timedelta(days=4 + n)
        steps.append((DeadlineSet(obligation="reply", due_at=due, calendar_id="CN",
                                  limit_working_days=3) if n % 3 == 0 else
                      DeadlineWarned(obligation="reply", due_at=due, working_days_left=1)
                      if n % 3 == 1 else CaseReplied(answer=f"第{n}次答复", channel="phone"),
                      "service:deadline-watch" if n % 3 < 2 else "staff:ZX005"))
    return case_events(case_id, steps)


def sequenced(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        while sequence_pass(conn, limit=50_000):
            pass


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples) * 1000, cuts[98] * 1000


def replay_figures(url: str, runs: int) -> list[dict[str, Any]]:
    EventStore(url).append("replay-100", hundred_events("replay-100"), expected_version=0)
    sequenced(url)
    raw_sql = "SELECT * FROM events WHERE stream_id = %s ORDER BY version"
    replays, raws = [], []
    with psycopg.connect(url, autocommit=True) as conn:
        history = case_history(conn, "replay-100")
        assert history is not None and history.verification.ok and len(history.steps) == 100
        for _ in range(runs):
            started = time.perf_counter()
            case_history(conn, "replay-100")
            replays.append(time.perf_counter() - started)
            started = time.perf_counter()
            rows = conn.execute(raw_sql, ("replay-100",)).fetchall()
            raws.append(time.perf_counter() - started)
            assert len(rows) == 100
    p50, p99 = percentiles(replays)
    raw50, raw99 = percentiles(raws)
    return [
        {**figure(f"replay one case of 100 events, p99 ({runs} runs)", p99, "ms",
                  baseline=raw99), "goal": "< 20 ms", "passed": p99 < 20},
        figure("replay one case of 100 events, p50", p50, "ms", baseline=raw50),
        figure("raw SELECT of the same 100 rows, p99", raw99, "ms"),
    ]


def rebuild_figures(url: str, cases: int) -> list[dict[str, Any]]:
    store = EventStore(url)
    for start in range(0, cases, 200):
        store.append_many([(f"c{i:06d}", case_events(f"c{i:06d}", ten_events(f"c{i:06d}")), 0)
                           for i in range(start, min(start + 200, cases))])
    sequenced(url)
    raw_best, rebuild_best, events = 0.0, 0.0, 0
    for _ in range(2):
        with psycopg.connect(url) as conn:
            last = conn.execute("SELECT max(seq) FROM commit_log").fetchone()
            started = time.perf_counter()
            with conn.cursor(name="raw") as cur:
                cur.itersize = 20_000
                cur.execute(_SELECT, (last[0] if last else 0,))
                events = sum(len(rows) for rows in iter(lambda: cur.fetchmany(20_000), []))
            raw_best = max(raw_best, events / (time.perf_counter() - started))
        report = rebuild_from_store(url)
        assert report.events == events and report.cases >= cases
        rebuild_best = max(rebuild_best, report.events / report.seconds)
    return [
        figure(f"rebuild from the store, {events:,} events (best of 2)", rebuild_best,
               "events/s", baseline=raw_best, goal_min=20_000),
        figure("raw read of the same events (commit_log ⋈ events)", raw_best, "events/s"),
    ]


def run(pg_url: str, quick: bool = False) -> list[dict[str, Any]]:
    """``pg_url``: a migrated, empty database of its own."""
    put_in_force(pg_url, load_directory(ROOT / "deploy" / "demo" / "directory.yaml"),
                 actor="system:bench", source="bench")
    return [*replay_figures(pg_url, QUICK_REPLAYS if quick else REPLAYS),
            *rebuild_figures(pg_url, QUICK_CASES if quick else CASES)]


if __name__ == "__main__":
    with postgres() as admin, fresh_database(admin) as url:
        print_table(run(url, quick="--quick" in sys.argv))
