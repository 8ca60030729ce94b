"""Routing decisions per second, beside a plain consume of the same events, in one run.

    setup     the demo directory in force; N cases registered through intake's
              register_inquiry (a realistic mix: referrals to other units, an external
              body's matter, an unclear one); the relay publishes them to a fresh topic
    baseline  a faust agent on that topic doing no work (``events()`` + ``ack``, as the
              routing agent iterates), timed inside the process from its first message to
              its Nth: same consumer technology, no decoding, no database
    routing   ``python -m services.routing`` (the faust worker, batches of up to 1000 in one
              transaction, decisions of a batch appended with one append_many) routes the
              same N; the rate is what was handled between the start of the first
              transaction and the start of the last (inbox processed_at), over that span;
              every case must have got a decision
    rounds    baseline and routing in turns, ROUNDS times on fresh cases, database and
              topic: the machine is shared, so the best round of each is reported (every
              round is kept in the row's "runs")
    workers   the rounds with 1 worker process, then with CORES (one per core, one consumer
              group), the baseline likewise: CORES plain consumers in one group. The goal
              is carried by the CORES row: one worker per core is how routing runs here
    single    the same with ``--batch-size 1`` (one transaction per message: faust_base's
              inbox_agent) over OTHER_EVENTS/5 fresh cases on a fresh topic, for comparison
    ceiling   OTHER_EVENTS more cases whose decisions are worked out first, then only appended,
              BATCH per transaction: through CaseRepository.append_many (what routing does),
              and case by case through CaseRepository.append; what the store allows any
              router, whatever its consumer

Both exclude start-up and the consumer-group join. run(pg_url, bootstrap) -> figure rows.
``--quick``: one round of 300, batches of 100 (a smoke test of the harness, not a figure).
``python -m bench.routing_bench raw N OUT`` is the baseline consumer process itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import cycle
from pathlib import Path
from typing import Any, cast

import psycopg
from psycopg_pool import ConnectionPool

from bench.common import figure, fresh_database
from events import CloudEvent
from events.fields import Channel
from services.cases.repository import CaseRepository
from services.common.bus import ensure_topics
from services.common.eventstore import read_streams
from services.common.settings import Settings
from services.directory.index import DirectoryIndex
from services.directory.loader import load_directory
from services.directory.store import put_in_force
from services.domain.case import fold
from services.intake.register import Inquiry, register_inquiry
from services.relay.relay import run as run_relay
from services.routing.router import OpenCounts, Router
from services.routing.worker import BATCH_SIZE

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "deploy" / "demo" / "directory.yaml"
# Routed in each round. A plain consumer takes about 6 MB at one fetch, so at 5,000 events
# (5.5 MB) the baseline's clock started once the whole topic was in memory and measured 0.2 s
# of iterating it (3,700-26,000/s between rounds, as a group rebalance fell inside or not).
# At 20,000 both are timed over several fetches: a steady consume, as a service sees one.
EVENTS = 20_000
OTHER_EVENTS = 5_000  # the one-by-one run (a fifth of these) and the ceilings: comparisons
QUICK_EVENTS = 300
ROUNDS = 3
CORES = 2  # the machine's: one worker per core is how routing is deployed on it
BATCH = BATCH_SIZE  # the routing worker's default batch size
QUICK_BATCH = 100  # 300 events in one batch could not be timed
SINGLE_SHARE = 5  # the one-by-one run routes a fifth as many (it is that much slower)
PARTITIONS = 6
TIMEOUT = 600.0
REPORT_EVERY = 0.25  # seconds between a plain consumer's reports of its progress
# (first responder, what the inquirer said): mostly matters of other units, as at a centre window
MIX = [
    ("ZX005", "我的社保卡坏了，来补办社保卡"),
    ("ZX006", "孩子刚出生，要上户口"),
    ("ZX005", "想申请低保，需要什么材料"),
    ("ZX006", "个税APP上怎么退税"),
    ("ZX005", "我想办护照"),  # an external body: classified only
    ("ZX006", "农村宅基地建房审批"),
    ("ZX005", "结婚登记要带什么"),
    ("ZX006", "阿巴阿巴，啦啦啦"),  # unclear, nothing like it: escalated to the section chief
]


def settings_for(pg_url: str, bootstrap: str) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    return Settings.model_validate({
        "DATABASE_URL": pg_url, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "topic_partitions": PARTITIONS, "relay_metrics_port": 0,
        "case_events_topic": f"bench.routing.{suffix}",
        "dead_letter_topic": f"bench.dlq.{suffix}",
        "data_dir": Path(tempfile.mkdtemp(prefix="shouwen-routing-bench-")),
    })


@contextmanager
def bench_settings(pg_url: str, bootstrap: str) -> Iterator[Settings]:
    """``settings_for``; its data directory (worker logs, faust state) is removed after a
    run that went well, kept after one that failed (the error names its logs)."""
    settings = settings_for(pg_url, bootstrap)
    yield settings
    shutil.rmtree(settings.data_dir, ignore_errors=True)


def city(settings: Settings) -> DirectoryIndex:
    """The demo directory, put in force (a second call changes nothing)."""
    directory = load_directory(DEMO)
    put_in_force(str(settings.database_url), directory, actor="system:bench", source=str(DEMO))
    return DirectoryIndex(directory, 1)


def register(settings: Settings, n: int) -> list[CloudEvent]:
    """``n`` received cases in the store, BATCH per transaction; their received events."""
    directory, mix = city(settings), cycle(MIX)
    received: list[CloudEvent] = []
    with ConnectionPool(str(settings.database_url), min_size=1, max_size=1) as pool:
        repo = CaseRepository(pool)
        for start in range(0, n, BATCH):
            with pool.connection() as conn, conn.transaction():
                for _ in range(min(BATCH, n - start)):
                    staff_id, matter = next(mix)
                    person = directory.person(staff_id)
                    assert person is not None
                    receipt = register_inquiry(repo, conn, person, Inquiry(
                        channel=Channel.window, matter=matter, inquirer_name="张三",
                        inquirer_phone="13800000000"))
                    received.append(repo.store.read_stream(receipt.case_id, conn=conn)[0].event)
    return received


def prepare(settings: Settings, n: int) -> list[uuid.UUID]:
    """``n`` received cases in the store and on the topic; the received events' ids."""
    ensure_topics(str(settings.kafka_bootstrap_servers),
                  [settings.case_events_topic, settings.dead_letter_topic], PARTITIONS)
    ids = [e.id for e in register(settings, n)]
    run_relay(settings, once=True)
    return ids


def append_rate(settings: Settings, n: int, many: bool) -> float:
    """The ceiling for any router appending through CaseRepository: the same kind of
    decisions, worked out beforehand, appended BATCH cases per transaction (``many``: with
    one append_many each, else case by case); cases/s."""
    received = register(settings, n)
    with ConnectionPool(str(settings.database_url), min_size=1, max_size=1) as pool:
        repo, directory = CaseRepository(pool), city(settings)
        router = Router(repo, lambda: directory)
        with pool.connection() as conn:
            streams, counts = read_streams(conn, [e.subject for e in received]), OpenCounts(conn)
            plans = []
            for event in received:
                state = fold(event.subject, [r.event for r in streams[event.subject]])
                plans.append((state, router.decisions(state, event, directory, counts)))
        started = time.perf_counter()
        for start in range(0, n, BATCH):
            with pool.connection() as conn, conn.transaction():
                if many:
                    appended = repo.append_many(plans[start:start + BATCH], conn)
                    assert not appended.conflicts, appended.conflicts
                    continue
                for state, events in plans[start:start + BATCH]:
                    repo.append(state, events, conn)
        return n / (time.perf_counter() - started)


def environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": str(settings.database_url),
        "KAFKA_BOOTSTRAP_SERVERS": str(settings.kafka_bootstrap_servers),
        "SHOUWEN_CASE_EVENTS_TOPIC": settings.case_events_topic,
        "SHOUWEN_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
        "SHOUWEN_TOPIC_PARTITIONS": str(PARTITIONS),
        "SHOUWEN_DATA_DIR": str(settings.data_dir),
        "SHOUWEN_LOG_LEVEL": "WARNING",
    }


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _start(argv: list[str], settings: Settings, log_name: str) -> subprocess.Popen[bytes]:
    log = (settings.data_dir / log_name).open("ab")
    return subprocess.Popen(argv, cwd=ROOT, env=environment(settings), stdout=log,
                            stderr=subprocess.STDOUT)


# processed_at is the start of the transaction that handled it (one per batch): between the
# first and the last start, every batch but the last was handled.
_PROGRESS = (
    "WITH t AS (SELECT processed_at FROM inbox WHERE consumer = %s AND event_id = ANY(%s))"
    " SELECT count(*), count(*) FILTER (WHERE processed_at = (SELECT max(processed_at) FROM t)),"
    " extract(epoch FROM max(processed_at) - min(processed_at)) FROM t"
)
_DECIDED = (
    "SELECT count(DISTINCT causation_id) FROM events"
    " WHERE actor = 'service:routing' AND causation_id = ANY(%s)"
)


def routed_rate(
    settings: Settings, ids: list[uuid.UUID], argv: list[str], log: str, workers: int = 1
) -> float:
    """Start the routing worker(s) (one consumer group), wait until the inbox holds every
    one of ``ids``, check that each case got a decision; received events routed per second."""
    procs = [_start(argv, settings, f"{log}-{i}.log") for i in range(workers)]
    deadline = time.monotonic() + TIMEOUT
    try:
        with psycopg.connect(str(settings.database_url), autocommit=True) as conn:
            while True:
                row = conn.execute(_PROGRESS, ("routing", ids)).fetchone()
                assert row is not None
                if row[0] >= len(ids):
                    break
                if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                    raise RuntimeError(f"routing stopped at {row[0]} of {len(ids)} events; "
                                       f"see {settings.data_dir}/{log}-*.log")
                time.sleep(0.5)
            decided = conn.execute(_DECIDED, (ids,)).fetchone()
    finally:
        for proc in procs:
            _stop(proc)
    if decided is None or decided[0] != len(ids):
        raise RuntimeError(f"only {decided and decided[0]} of {len(ids)} cases got a decision")
    if not row[2]:
        raise RuntimeError("everything was handled in one transaction: too few events to time")
    return (len(ids) - row[1]) / float(row[2])


def raw_rate(settings: Settings, n: int, workers: int = 1) -> float:
    """The plain consume of ``n`` events by ``workers`` processes in one consumer group:
    each reports its first and latest message time and its count; the rate spans the
    group's first message to its last."""
    outs = [settings.data_dir / f"raw-{i}.json" for i in range(workers)]
    procs = [_start([sys.executable, "-m", "bench.routing_bench", "raw", str(n), str(out)],
                    settings, f"raw-{i}.log") for i, out in enumerate(outs)]
    deadline = time.monotonic() + TIMEOUT
    try:
        while True:
            timings = [json.loads(o.read_text()) for o in outs if o.exists()]
            if sum(t["count"] for t in timings) >= n:
                break
            if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                raise RuntimeError(f"the raw consumer failed; see {settings.data_dir}/raw-*.log")
            time.sleep(0.2)
    finally:
        for proc in procs:
            _stop(proc)
    first, last = min(t["first"] for t in timings), max(t["last"] for t in timings)
    return (n - 1) / (last - first)


def fresh_run(pg_url: str, bootstrap: str, n: int, argv: list[str], log: str,
              workers: int = 1) -> float:
    """Route ``n`` fresh cases in a database and on a topic of their own."""
    with fresh_database(pg_url) as url, bench_settings(url, bootstrap) as settings:
        return routed_rate(settings, prepare(settings, n), argv, log, workers)


def rounds(pg_url: str, bootstrap: str, n: int, argv: list[str], times: int, workers: int
           ) -> tuple[list[float], list[float]]:
    """Baseline and routing in turns, each round on fresh cases, database and topic, both
    with ``workers`` processes in one consumer group."""
    raws, rates = [], []
    for _ in range(times):
        with fresh_database(pg_url) as url, bench_settings(url, bootstrap) as settings:
            ids = prepare(settings, n)
            raws.append(raw_rate(settings, n, workers))
            rates.append(routed_rate(settings, ids, argv, f"routing-{workers}", workers))
    return raws, rates


def run(pg_url: str, bootstrap: str, quick: bool = False) -> list[dict[str, Any]]:
    n, times = (QUICK_EVENTS, 1) if quick else (EVENTS, ROUNDS)
    routing = [sys.executable, "-m", "services.routing"]
    batched = [*routing, "--batch-size", str(QUICK_BATCH)] if quick else routing
    best = f"best of {times}" if times > 1 else "1 round"
    rows = []
    for workers in (1, CORES):
        raws, rates = rounds(pg_url, bootstrap, n, batched, times, workers)
        what = "1 faust worker" if workers == 1 else f"{workers} faust workers, one group"
        goal: dict[str, Any] = {"goal_min": 2000, "goal_ratio": 0.30} if workers == CORES else {}
        rows += [
            {**figure(f"plain faust consume (no work), {what}, {best}", max(raws), "events/s"),
             "runs": raws},
            {**figure(f"routing decisions, {what}, batches ({n} received), {best}", max(rates),
                      "events/s", baseline=max(raws), **goal), "runs": rates},
        ]
    few = max(min(n, OTHER_EVENTS) // SINGLE_SHARE, 100)
    one_by_one = fresh_run(pg_url, bootstrap, few, [*routing, "--batch-size", "1"],
                           "routing-single")
    with bench_settings(pg_url, bootstrap) as settings:
        many = append_rate(settings, min(n, OTHER_EVENTS), many=True)
        each = append_rate(settings, min(n, OTHER_EVENTS), many=False)
    return [
        *rows,
        figure(f"routing decisions, one transaction per message ({few}), 1 worker", one_by_one,
               "events/s", baseline=rows[0]["value"]),
        figure(f"CaseRepository.append_many alone, same decisions, {BATCH}/transaction", many,
               "cases/s"),
        figure(f"CaseRepository.append case by case, same decisions, {BATCH}/transaction",
               each, "cases/s", baseline=many),
    ]


def raw_consumer(n: int, out: Path) -> None:
    """A faust agent that only counts and acks; writes its timing (first and latest message,
    on the wall clock that other processes share, and how many) every REPORT_EVERY seconds
    and once it has seen ``n``."""
    import faust

    from services.common.faust_base import make_app, run_worker

    app = make_app(Settings(), "bench-raw-consume")
    channel = app.topic(Settings().case_events_topic, key_serializer="raw",
                        value_serializer="raw", allow_empty=True)
    seen: list[float] = []

    def report() -> None:
        if seen:
            out.with_suffix(".tmp").write_text(
                json.dumps({"first": seen[0], "last": seen[-1], "count": len(seen)}))
            out.with_suffix(".tmp").replace(out)

    @app.agent(channel, name="bench-raw-consume.count")
    async def count(stream: faust.StreamT) -> None:
        manual = cast(faust.Stream, stream).noack()
        async for event in manual.events():
            seen.append(time.time())
            if len(seen) == n:
                report()
            await manual.ack(event)

    @app.timer(REPORT_EVERY)
    async def _report() -> None:
        report()

    run_worker(app, loglevel="WARNING")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "raw":
        raw_consumer(int(sys.argv[2]), Path(sys.argv[3]))
    else:
        from bench.__main__ import broker
        from bench.common import postgres, print_table

        with postgres() as admin, fresh_database(admin) as url, broker() as servers:
            print_table(run(url, servers, quick="--quick" in sys.argv))
