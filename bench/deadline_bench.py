"""deadline-watch: the cost of a tick as open timers grow, their size, and firing lateness.

    tick      N open timers (COPY; due over the next 30 days, none now), then the loop's
              tick (claim-due query FOR UPDATE SKIP LOCKED, nothing due); at 10k, 100k, 1M.
              Baseline for 10k: a ``SELECT 1`` round trip on the same pool; for 100k and
              1M: the tick at 10k (goal: within 2x). Each is the best of 5 medians of 200
              (the machine is shared)
    size      pg_total_relation_size(deadline_timers) at 1M, beside a minimal table of the
              same rows (bigint id + timestamptz, primary key and the same partial index)
    rss       this process's resident memory after ticking over 1M timers, beside after
              10k: the loop keeps no timer in memory
    lateness  1,000 cases received together, so their forward breach timers fall due in
              the same second; the real loop (service.loop, tick every 0.1 s) runs on a
              clock shifted so that second comes 1.5 s after it starts; lateness = the
              tick's now - fire_at of each (p50, p99; goal p99 < 1 s). Baseline: the same
              loop firing ONE timer due alone.

run(pg_url, quick=False) -> figure rows. ``--quick``: 1k / 5k / 10k timers, 100 cases.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from bench.common import figure as _figure
from bench.common import fresh_database, postgres, print_table
from events import new_event
from events.case import CaseReceived
from events.fields import Channel
from services.calendar.store import load_packaged_if_empty
from services.deadline_watch.calendar_port import CIVIL_TIME
from services.deadline_watch.service import DeadlineSettings, build, loop
from services.domain.case import CaseState

RECEIVED_AT = datetime(2026, 11, 2, 10, tzinfo=CIVIL_TIME).astimezone(UTC)  # Monday
TICKS = 200
ROUNDS = 5


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fill(url: str, n: int, start: int = 0) -> None:
    """n more pending timers, all due within the next 30 days (COPY)."""
    base = datetime.now(UTC) + timedelta(days=1)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY deadline_timers (case_id, obligation, kind, fire_at, due_at,"
                      " event_id, state) FROM STDIN") as copy:
            for i in range(start, start + n):
                at = base + timedelta(seconds=(i * 7919) % (30 * 86400))
                copy.write_row((f"B-{i}", "complete", "breach", at, at, uuid.uuid4(),
                                "pending"))
        conn.execute("ANALYZE deadline_timers")


def median_ms(fn: Any, n: int = TICKS, rounds: int = ROUNDS) -> float:
    """The best of ``rounds`` medians of ``n`` calls: the machine is shared, and a neighbour's
    burst would otherwise decide the figure."""
    best = float("inf")
    for _ in range(rounds):
        times = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        best = min(best, statistics.median(times) * 1000)
        time.sleep(0.2)
    return best


def ceiling(row: dict[str, Any], goal: str, passed: bool) -> dict[str, Any]:
    return {**row, "goal": goal, "passed": passed}


def tick_figures(url: str, sizes: list[int]) -> list[dict[str, Any]]:
    watch, pool = build(url)
    rows, filled, first = [], 0, 0.0
    with pool:
        for size in sizes:
            fill(url, size - filled, filled)
            filled = size
            for _ in range(20):  # warm the pool and the plan cache
                watch.tick()
            ms = median_ms(watch.tick)
            label = f"tick, nothing due, {size:,} open timers"
            if not first:
                first = ms

                def ping() -> None:
                    with pool.connection() as conn:
                        conn.execute("SELECT 1")

                rows.append(_figure(label, ms, "ms", baseline=median_ms(ping)))
                rss_small = rss_mb()
            else:
                rows.append(ceiling(_figure(label, ms, "ms", baseline=first),
                                    f"<= 200% of the {sizes[0]:,} tick", ms <= 2 * first))
        rows.append(_figure(f"loop process RSS after ticking over {filled:,} timers",
                            rss_mb(), "MB", baseline=rss_small))
        with pool.connection() as conn:
            table = conn.execute("SELECT pg_total_relation_size('deadline_timers')").fetchone()
            conn.execute("CREATE TABLE bench_plain (id bigint PRIMARY KEY, at timestamptz)")
            conn.execute("INSERT INTO bench_plain SELECT g, now() + g * interval '1 second'"
                         " FROM generate_series(1, %s) g", (filled,))
            conn.execute("CREATE INDEX ON bench_plain (at) WHERE at IS NOT NULL")
            plain = conn.execute("SELECT pg_total_relation_size('bench_plain')").fetchone()
        assert table and plain
        rows.append(_figure(f"timer table + indexes, {filled:,} open timers", table[0] / 2**20,
                            "MB", baseline=plain[0] / 2**20))
    return rows


def lateness_figures(url: str, cases: int) -> list[dict[str, Any]]:
    load_packaged_if_empty(url)
    shift = [timedelta(0)]
    watch, pool = build(url, now=lambda: datetime.now(UTC) + shift[0],
                        ds=DeadlineSettings(tick_seconds=0.1))
    with pool:
        lone = _cases(watch, ["L-0"], RECEIVED_AT - timedelta(days=7))
        alone = _run_loop(watch, shift, lone, ["L-0"])
        ids = [f"D-{i}" for i in range(cases)]
        due = _cases(watch, ids, RECEIVED_AT)
        late = _run_loop(watch, shift, due, ids)
    p50, p99 = (statistics.quantiles(late, n=100)[i] for i in (49, 98))
    return [
        ceiling(_figure(f"firing lateness p50, {cases:,} timers due in one second", p50, "s",
                        baseline=alone[0]), "< 1 s", p50 < 1),
        ceiling(_figure(f"firing lateness p99, {cases:,} timers due in one second", p99, "s",
                        baseline=alone[0]), "< 1 s", p99 < 1),
    ]


def _cases(watch: Any, ids: list[str], at: datetime) -> datetime:
    """Cases received at ``at``, consumed: returns their forward breach time."""
    states = [(CaseState(case_id=c), [new_event(CaseReceived(
        channel=Channel.phone, receipt_number=f"R-{c}", unit_id="ZWFWZX", matter="补办社保卡",
        inquirer_name="张三", first_responder_id="ZX005", first_responder_name="李娜",
        first_responder_duty="窗口受理", first_responder_contact="0935-8100105"),
        subject=c, actor="staff:ZX005", time=at)]) for c in ids]
    with watch.repo.pool.connection() as conn, conn.transaction():
        watch.repo.append_many(states, conn)
    for c in ids:
        with watch.repo.pool.connection() as conn, conn.transaction():
            watch.refresh(conn, c)
    with watch.repo.pool.connection() as conn:
        row = conn.execute("SELECT min(fire_at) FROM deadline_timers WHERE case_id = %s AND"
                           " kind = 'breach'", (ids[0],)).fetchone()
        conn.execute("UPDATE deadline_timers SET state = 'cancelled' WHERE case_id = ANY(%s)"
                     " AND kind = 'warn'", (ids,))  # fired long before: not this figure
    assert row is not None
    return row[0]


def _run_loop(watch: Any, shift: list[timedelta], due: datetime, ids: list[str]) -> list[float]:
    shift[0] = due - datetime.now(UTC) - timedelta(seconds=1.5)
    stop = threading.Event()
    thread = threading.Thread(target=loop, args=(watch, stop, 0.1))
    thread.start()
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            with watch.repo.pool.connection() as conn:
                rows = conn.execute(
                    "SELECT extract(epoch FROM fired_at - fire_at) FROM deadline_timers"
                    " WHERE case_id = ANY(%s) AND kind = 'breach' AND state = 'fired'",
                    (ids,)).fetchall()
            if len(rows) == len(ids):
                return sorted(float(r[0]) for r in rows)
            time.sleep(0.2)
        raise RuntimeError(f"only {len(rows)} of {len(ids)} timers fired in 120 s")
    finally:
        stop.set()
        thread.join()


def consume_figures(url: str, cases: int) -> list[dict[str, Any]]:
    """The consumer's throughput: K lifecycles' events (received, accepted, a notice, the
    materials, replied, completed, and the notification events no rule reads) handled one
    transaction per event (``handle``: the one-message path) and in batches of 1,000
    (``handle_batch``: the batch agent's), each on cases of its own, store in place."""
    load_packaged_if_empty(url)
    watch, pool = build(url)
    with pool:
        rates = []
        for prefix in ("ONE", "BATCH"):
            events = _lifecycles(watch, [f"{prefix}-{i}" for i in range(cases)])
            began = time.perf_counter()
            if prefix == "ONE":
                for event in events:
                    with watch.repo.pool.connection() as conn, conn.transaction():
                        watch.handle(conn, event)
            else:
                for i in range(0, len(events), 1000):
                    with watch.repo.pool.connection() as conn, conn.transaction():
                        watch.handle_batch(conn, events[i:i + 1000])
            rates.append(len(events) / (time.perf_counter() - began))
    return [_figure(f"deadline-watch consumer, {cases:,} lifecycles in batches of 1,000",
                    rates[1], "events/s", baseline=rates[0], goal_ratio=2.0)]


def _lifecycles(watch: Any, ids: list[str]) -> list[Any]:
    """Each case's lifecycle in the store, in the order the topic would bring it."""
    from events.case import (
        CaseAccepted,
        MaterialsSupplied,
        MissingMaterial,
        OneTimeNoticeGiven,
        TimeLimit,
    )
    from events.case_outcome import CaseCompleted, CaseReplied, Outcome
    from events.fields import StaffMember
    from events.notification import NotificationSent

    handler = StaffMember(id="ZX005", name="李娜", duty="窗口受理", contact="0935-8100105")
    at = RECEIVED_AT

    def steps(c: str) -> list[Any]:
        sent = NotificationSent(source_event_id="e", channel="in_app", recipient_kind="staff",
                                recipient_id="ZX005", template="staff/assigned",
                                language="zh-CN", attempts=1, message="新案件")
        payloads = [
            CaseReceived(channel=Channel.phone, receipt_number=f"R-{c}", unit_id="ZWFWZX",
                         matter="补办社保卡", inquirer_name="张三", first_responder_id="ZX005",
                         first_responder_name="李娜", first_responder_duty="窗口受理",
                         first_responder_contact="0935-8100105"),
            sent,
            CaseAccepted(handler=handler, time_limit=TimeLimit(
                working_days=5, due_date=(at + timedelta(days=7)).date())),
            sent,
            OneTimeNoticeGiven(missing_materials=[MissingMaterial(name="身份证复印件")],
                               notified_via=Channel.window),
            MaterialsSupplied(materials=["身份证复印件"], complete=True),
            CaseReplied(answer="已答复", channel=Channel.phone), sent,
            CaseCompleted(outcome=Outcome.resolved, summary="已办结"), sent,
        ]
        return [new_event(p, subject=c, time=at + timedelta(minutes=i),
                          actor="service:notification" if p is sent else "staff:ZX005")
                for i, p in enumerate(payloads)]

    per_case = [steps(c) for c in ids]
    with watch.repo.pool.connection() as conn, conn.transaction():
        watch.repo.append_many([(CaseState(case_id=c), evs) for c, evs in zip(ids, per_case,
                                                                              strict=True)],
                               conn)
    # interleaved as partitions deliver them: the first event of every case, then the second...
    return [evs[k] for k in range(len(per_case[0])) for evs in per_case]


def run(pg_url: str, quick: bool = False) -> list[dict[str, Any]]:
    sizes = [1_000, 5_000, 10_000] if quick else [10_000, 100_000, 1_000_000]
    with fresh_database(pg_url) as url:
        rows = tick_figures(url, sizes)
    with fresh_database(pg_url) as url:
        rows += lateness_figures(url, 100 if quick else 1_000)
    with fresh_database(pg_url) as url:
        rows += consume_figures(url, 100 if quick else 1_000)
    return rows


if __name__ == "__main__":
    with postgres() as admin:
        print_table(run(admin, quick="--quick" in sys.argv))
