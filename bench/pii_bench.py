"""Personal data (issue 16): each figure beside the same work without encryption, same run.

    append single   EventStore.append of one event with personal fields (a notification_sent
                    to the inquirer: address and message sealed) to a case at a known
                    version, one per call, one connection; keys warm (the writer's cache);
                    plain and sealed take turns append by append
              vs    the same appends with encryption off               goal >= 80%
    append batched  append_many of 100 cases x 1 such event per transaction, 300 batches;
                    plain and sealed take turns batch by batch
              vs    the same with encryption off                       goal >= 80%
                    Both append figures interleave the modes finely (which one goes first
                    alternates): on a shared machine a stall of a batch's size (~10 ms) in
                    one mode's share of 30 batches timed in rounds moved the batched ratio
                    by 20-30 points from run to run (55% to 95% for the same code), and
                    the single one, in rounds of 300 appends, from 58% to 124%.
                    Both append figures: what the bench itself holds (every module, and the
                    round's events to append, ~6,000) is frozen out of the cyclic garbage
                    collector (gc.freeze), as services/intake/main.py freezes its startup
                    heap. Otherwise a full collection walks all of it, and the mode whose
                    own garbage happens to tip the young generation over (sealing keeps 100
                    more dicts alive in a batch: sealed, nearly every batch; plain, nearly
                    never) pays for that walk: 0.54 s of sealed's 1.37 s over plain in
                    one run of 300 batches, the bench's heap, not the writer's work.
    open case       CaseRepository.open_case of a new inquirer (the key found or made in one
                    statement, the received event sealed) vs without: one more round trip
                    than the plain case's one statement, in alternating rounds (no goal)
    replay          case_history of a 100-event case with 34 personal events sealed, the
                    decryptor's cache emptied before each run (one key lookup): p99, p50;
                    and with the cache warm: p99
              vs    the same case stored plain, runs alternating       goal p99 < 25 ms
    erasure         erase_inquirer of one inquirer with 100 cases (key destroyed, 100
                    inquirer_erased appended, 台账 rows folded, delivery records scrubbed,
                    audited), one transaction                          goal < 1 s
              vs    appending and folding one plain event to the same 100 cases

Run: ``python -m bench --only pii``.
"""

from __future__ import annotations

import gc
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from bench.common import figure, fresh_database, postgres, print_table
from bench.ledger_bench import hundred_events, percentiles, received, sequenced
from events import CloudEvent, new_event
from events.case_outcome import CaseReplied
from events.notification import NotificationSent
from services.cases.repository import CaseRepository
from services.cli_personal import scrubbers
from services.common.eventstore import EventStore
from services.common.pii import LocalKek, PersonalData, reset_personal_data
from services.directory.loader import load_directory
from services.directory.store import put_in_force
from services.personal.erase import erase_inquirer
from services.record.history import case_history
from services.record.tables import apply_events

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
SINGLE, QUICK_SINGLE = 3_000, 200
BATCHES, QUICK_BATCHES = 300, 10
REPLAYS, QUICK_REPLAYS = 200, 20


def sent(case_id: str, n: int) -> CloudEvent:
    return new_event(NotificationSent(
        source_event_id=f"ev-{n}", recipient_kind="inquirer", channel="sms",
        address="13800000000", template="inquirer/receipt", language="zh-CN", attempts=1,
        message=f"张三您好，您的事项（受理编号 R-{case_id}）已受理，经办人李娜 0935-8100105。"),
        subject=case_id, actor="service:notification")


def modes() -> tuple[PersonalData, PersonalData]:
    return (PersonalData(None, False),
            PersonalData(LocalKek(secrets.token_bytes(32)), True, cache_seconds=600))


def in_turn(r: int, *pairs: tuple[str, PersonalData]) -> list[tuple[str, PersonalData]]:
    """Both modes, the other one first every other round: a batch's commit leaves work
    (WAL, the checkpointer) that the next one pays for, so neither may always go second."""
    return list(pairs) if r % 2 == 0 else list(reversed(pairs))


def opened_cases(url: str, prefix: str, n: int) -> None:
    store = EventStore(url)
    for start in range(0, n, 200):
        store.append_many([(f"{prefix}{i}", [new_event(received(f"{prefix}{i}"),
                                                       subject=f"{prefix}{i}",
                                                       actor="staff:ZX005")], 0)
                           for i in range(start, min(start + 200, n))])


def append_figures(urls: dict[str, str], single: int, batches: int, rounds: int = 10
                   ) -> list[dict[str, Any]]:
    """Plain and sealed taking turns, append by append and batch by batch (the machine is
    shared: its load drifts)."""
    plain, sealed = modes()
    cases = single + 100  # the first `single` take one append each, the last 100 the batches
    spent = {"plain": [0.0, 0.0], "sealed": [0.0, 0.0]}
    conns = {k: psycopg.connect(u, autocommit=True) for k, u in urls.items()}
    try:
        for label, pd in (("plain", plain), ("sealed", sealed)):
            reset_personal_data(pd)
            opened_cases(urls[label], f"{label}-", cases)
            if pd.enabled:  # warm, as a running writer's cache is
                pd.keys_for_streams(conns[label], [f"{label}-{i}" for i in range(cases)])
        per_round, batches_per_round = single // rounds, max(batches // rounds, 1)
        stores = {label: EventStore(url) for label, url in urls.items()}
        for r in range(rounds):
            events = {label: [sent(f"{label}-{i}", i)
                              for i in range(r * per_round, (r + 1) * per_round)]
                      for label in ("plain", "sealed")}
            todo = {label: [[(f"{label}-{single + i}", [sent(f"{label}-{single + i}", b)], 1 + b)
                             for i in range(100)]
                            for b in range(r * batches_per_round, (r + 1) * batches_per_round)]
                    for label in ("plain", "sealed")}
            gc.freeze()  # what the bench holds (the module docstring says why)
            for i in range(per_round):  # the two modes append by append
                for label, pd in in_turn(r + i, ("plain", plain), ("sealed", sealed)):
                    reset_personal_data(pd)
                    e = events[label][i]
                    started = time.perf_counter()
                    stores[label].append(e.subject, [e], expected_version=1, conn=conns[label])
                    spent[label][0] += time.perf_counter() - started
            for j in range(batches_per_round):  # the two modes batch by batch
                for label, pd in in_turn(r + j, ("plain", plain), ("sealed", sealed)):
                    reset_personal_data(pd)
                    started = time.perf_counter()
                    assert not stores[label].append_many(todo[label][j],
                                                         conn=conns[label]).conflicts
                    spent[label][1] += time.perf_counter() - started
    finally:
        gc.unfreeze()
        for c in conns.values():
            c.close()
    reset_personal_data(PersonalData(None, False))
    one = {k: per_round * rounds / v[0] for k, v in spent.items()}
    many = {k: batches_per_round * rounds * 100 / v[1] for k, v in spent.items()}
    return [
        figure(f"append 1 personal event per call, sealed ({per_round * rounds:,})",
               one["sealed"], "events/s", baseline=one["plain"], goal_ratio=0.8),
        figure(f"append_many 100 personal events per batch, sealed "
               f"({batches_per_round * rounds})", many["sealed"], "events/s",
               baseline=many["plain"], goal_ratio=0.8),
    ]


def open_case_figures(urls: dict[str, str], n: int, rounds: int = 5) -> list[dict[str, Any]]:
    spent = {"plain": 0.0, "sealed": 0.0}
    pools = {k: ConnectionPool(u, min_size=1, max_size=1) for k, u in urls.items()}
    try:
        for r in range(rounds):
            for label, pd in in_turn(r, *zip(("plain", "sealed"), modes(), strict=True)):
                reset_personal_data(pd)
                with pools[label].connection() as conn:
                    conn.autocommit = True
                    repo = CaseRepository(pools[label])
                    events = []
                    for i in range(r * n // rounds, (r + 1) * n // rounds):
                        p = received(f"o{label}{i}").model_copy(
                            update={"inquirer_phone": f"139{i:08d}"})
                        events.append(new_event(p, subject=f"o{label}{i}", actor="staff:ZX005"))
                    started = time.perf_counter()
                    for e in events:
                        repo.open_case(e, "ABCDEFGH23", conn)
                    spent[label] += time.perf_counter() - started
    finally:
        for pool in pools.values():
            pool.close()
    reset_personal_data(PersonalData(None, False))
    rates = {k: n // rounds * rounds / v for k, v in spent.items()}
    return [figure(f"open a case of a new inquirer, sealed ({n:,})", rates["sealed"],
                   "cases/s", baseline=rates["plain"])]


def personal_hundred(case_id: str) -> list[CloudEvent]:
    events = hundred_events(case_id)
    return [e if i % 3 else (sent(case_id, i) if i else e) for i, e in enumerate(events)]


def replay_figures(urls: dict[str, str], runs: int) -> list[dict[str, Any]]:
    """Plain, sealed with the key cache emptied before each run (one key lookup: a cold
    reader) and sealed with it warm, in alternating runs on two connections."""
    plain, sealed = modes()
    conns: dict[str, psycopg.Connection] = {}
    for label, pd in (("plain", plain), ("sealed", sealed)):
        reset_personal_data(pd)
        case_id, url = f"replay-{label}", urls[label]
        EventStore(url).append(case_id, personal_hundred(case_id), expected_version=0)
        sequenced(url)
        conns[label] = psycopg.connect(url, autocommit=True)
        first = case_history(conns[label], case_id)
        assert first is not None and first.verification.ok and len(first.steps) == 100
        assert first.state is not None and first.state["inquirer_name"] == "张三"
    samples: dict[str, list[float]] = {"plain": [], "cold": [], "warm": []}
    try:
        for _ in range(runs):
            for kind, label, pd in (("plain", "plain", plain), ("cold", "sealed", sealed),
                                    ("warm", "sealed", sealed)):
                reset_personal_data(pd)
                if kind == "cold":
                    pd.decryptor._keys.clear()
                started = time.perf_counter()
                case_history(conns[label], f"replay-{label}")
                samples[kind].append(time.perf_counter() - started)
    finally:
        for c in conns.values():
            c.close()
    reset_personal_data(PersonalData(None, False))
    p = {k: percentiles(v) for k, v in samples.items()}
    return [{**figure(f"replay 100 events (34 sealed), cold key cache, p99 ({runs} runs)",
                      p["cold"][1], "ms", baseline=p["plain"][1]),
             "goal": "< 25 ms", "passed": p["cold"][1] < 25},
            figure("replay 100 events (34 sealed), cold key cache, p50", p["cold"][0], "ms",
                   baseline=p["plain"][0]),
            figure("replay 100 events (34 sealed), warm key cache, p99", p["warm"][1], "ms",
                   baseline=p["plain"][1])]


def erasure_figures(url: str) -> list[dict[str, Any]]:
    _, sealed = modes()
    reset_personal_data(sealed)
    with ConnectionPool(url, min_size=1, max_size=2) as pool:
        repo = CaseRepository(pool)
        with pool.connection() as conn:
            conn.autocommit = True
            for i in range(100):
                e = new_event(received(f"e{i}"), subject=f"e{i}", actor="staff:ZX005",
                              time=T0 + timedelta(minutes=i))
                repo.open_case(e, "ABCDEFGH23", conn)
            conn.autocommit = False
            with conn.transaction():
                stored = EventStore(pool).read_streams([f"e{i}" for i in range(100)], conn=conn)
                apply_events(conn, [rs[0].event for rs in stored.values()])
        with pool.connection() as conn, conn.transaction():  # the baseline: a plain touch
            states = {c: repo.load(c, conn) for c in stored}
            started = time.perf_counter()
            batch = [(states[c], [new_event(CaseReplied(answer="已答复", channel="phone"),
                                            subject=c, actor="staff:ZX005")]) for c in stored]
            repo.append_many(batch, conn)
            apply_events(conn, [e for _, evs in batch for e in evs])
            baseline = time.perf_counter() - started
        with pool.connection() as conn:
            ref = conn.execute("SELECT inquirer_ref FROM pii_cases WHERE case_id = 'e0'"
                               ).fetchone()[0]
        started = time.perf_counter()
        report = erase_inquirer(pool, ref, by="staff:ZX013", reason="bench", scrub=scrubbers())
        seconds = time.perf_counter() - started
        assert len(report.cases) == 100, report
    reset_personal_data(PersonalData(None, False))
    return [{**figure("erase one inquirer with 100 cases, projections included", seconds * 1000,
                      "ms", baseline=baseline * 1000), "goal": "< 1000 ms",
             "passed": seconds < 1.0}]


def run(pg_url: str, quick: bool = False) -> list[dict[str, Any]]:
    """``pg_url``: a migrated, empty database of its own (sealed); the baselines run in a
    second one made here (plain: a store never cut over)."""
    with fresh_database(pg_url) as plain_url:
        urls = {"plain": plain_url, "sealed": pg_url}
        for url in urls.values():
            put_in_force(url, load_directory(ROOT / "deploy" / "demo" / "directory.yaml"),
                         actor="system:bench", source="bench")
        return [*append_figures(urls, QUICK_SINGLE if quick else SINGLE,
                                QUICK_BATCHES if quick else BATCHES),
                *open_case_figures(urls, QUICK_SINGLE if quick else SINGLE // 6),
                *replay_figures(urls, QUICK_REPLAYS if quick else REPLAYS),
                *erasure_figures(pg_url)]


if __name__ == "__main__":
    with postgres() as admin, fresh_database(admin) as url:
        print_table(run(url, quick="--quick" in sys.argv))
