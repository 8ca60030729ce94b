"""What skipping unread event types saves each consumer: the same topic replayed through
each consumer's batch handling, reading everything (as before) and reading only what it
declares (``READS``), alternately, in one process (``python -m bench.skip_replay --n 1000``).

    1. a real ``shouwen up`` (bench/city_day's suite), N lifecycles driven through it until
       every stage is quiet: the topic then holds the whole mix (notification and deadline
       bookkeeping included), as a city's would
    2. the topic read into memory; ``up`` stopped (its PostgreSQL stays), so nothing else
       runs beside the replays
    3. per consumer, rounds of: BatchHandling over every message in the service's batch
       size, under a fresh consumer name (a fresh inbox), reads=EVERYTHING ("all") and
       reads=the consumer's declaration ("declared"), in alternating order, the collector
       set as the workers set it (batch_agent's threshold, the heap frozen); process CPU
       (time.process_time) and PostgreSQL's CPU (its processes, psutil) per 1,000
       messages, wall time, load average

The handlers do what a replay under a new name does: the cases were handled already, so
routing's causation check, the ledger's version guard and the planner's conflict rule keep
their effects from repeating; what each replay pays in full is the screening (decode,
upcast, hash check), the inbox rows and the handler's reads. The faust side (fetching,
acking, per message) is not in it: it is the same whether a message is skipped or not.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from psycopg_pool import ConnectionPool

from bench.city_day import _drive, _warm_up
from bench.city_day.suite import Monitor, Suite, quiet, suite
from services.common import bus
from services.common.batch import BatchHandler, BatchHandling
from services.common.consumer import Handler, InboxHandling, Outcome
from services.common.deadletter import DeadLetters, Delivery
from services.common.faust_batch import GC_THRESHOLD
from services.common.reads import EVERYTHING, Reads
from services.common.settings import Settings

TOPIC, DLQ = "shouwen.case-events", "shouwen.dead-letter"
Consumer = tuple[Handler, BatchHandler, Reads, int]  # handlers, declaration, batch size


def read_topic(bootstrap: str) -> list[Delivery]:
    reader = bus.assigned_consumer(bootstrap, TOPIC)
    found: list[Delivery] = []
    idle = 0
    try:
        while idle < 5:
            polled = reader.poll(timeout_ms=500, max_records=5000)
            idle = 0 if polled else idle + 1
            for records in polled.values():
                found.extend(Delivery(r.topic, r.partition, r.offset, r.key, r.value,
                                      Delivery.normalise_headers(r.headers)) for r in records)
    finally:
        reader.close()
    return found


def consumers(settings: Settings, pool: ConnectionPool) -> dict[str, Consumer]:
    from services.deadline_watch.service import build
    from services.deadline_watch.watch import READS as DEADLINE
    from services.directory.index import DirectoryCache
    from services.ledger.worker import READS as LEDGER
    from services.ledger.worker import Projector
    from services.notification.planner import READS as NOTIFY
    from services.notification.planner import Planner
    from services.notification.settings import get_notify_settings
    from services.routing.router import READS as ROUTING
    from services.routing.worker import make_router

    assert settings.database_url is not None
    router, _ = make_router(settings)
    watch, _ = build(settings.database_url)
    cache = DirectoryCache(pool)
    planner = Planner(get_notify_settings(), cache.get)
    projector = Projector()
    return {"routing": (router.handle, router.handle_batch, ROUTING, 1000),
            "deadline-watch": (watch.handle, watch.handle_batch, DEADLINE, 1000),
            "notification": (planner.handle, planner.handle_batch, NOTIFY, 200),
            "ledger": (projector.handle, projector.handle_batch, LEDGER, 500)}


def postgres_cpu(postmaster: int) -> float:
    total = 0.0
    root = psutil.Process(postmaster)
    for p in [root, *root.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


def replay(s: Suite, settings: Settings, pool: ConnectionPool, deliveries: list[Delivery],
           name: str, consumer: Consumer, reads: Reads) -> dict[str, Any]:
    handler, batch_handler, _, size = consumer
    letters = DeadLetters(s.bootstrap, DLQ, name)
    single = InboxHandling(name, handler, letters, reads=reads)
    batch = BatchHandling(single, batch_handler)
    outcomes: dict[str, int] = {}
    gc.collect()  # each replay starts from the same heap, frozen as the workers freeze theirs
    gc.freeze()
    load = os.getloadavg()
    pg0, cpu0, wall0 = postgres_cpu(s.postmaster), time.process_time(), time.perf_counter()
    for i in range(0, len(deliveries), size):
        for o in batch.process(deliveries[i:i + size], pool.connection):
            outcomes[o.value] = outcomes.get(o.value, 0) + 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    pg = postgres_cpu(s.postmaster) - pg0
    letters.close()
    k = len(deliveries) / 1000
    return {"consumer": name, "events": len(deliveries), "outcomes": outcomes,
            "cpu_s_per_1000": cpu / k, "postgres_cpu_s_per_1000": pg / k,
            "wall_s": wall, "events_per_s": len(deliveries) / wall,
            "load_before": [round(x, 2) for x in load],
            "load_after": [round(x, 2) for x in os.getloadavg()]}


def workers(s: Suite, total: int, rounds: int, only: list[str] | None, tmp: Path
            ) -> list[dict[str, Any]]:
    """Each consumer as a real faust worker (fresh group, fresh inbox name) replaying the
    topic, reading all and reading what it declares, in alternating order."""
    env = {**s.env, "KAFKA_BOOTSTRAP_SERVERS": s.bootstrap}
    results: list[dict[str, Any]] = []
    for consumer in ("routing", "deadline-watch", "notification", "ledger"):
        if only and consumer not in only:
            continue
        for r in range(rounds):
            modes = ["all", "declared"] if r % 2 == 0 else ["declared", "all"]
            for mode in modes:
                name = f"{consumer}-worker-{mode}-{r}"
                out = tmp / f"{name}.json"
                with (tmp / f"{name}.log").open("wb") as log:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "bench.skip_worker", consumer, name, mode,
                         str(total), str(out)], env=env, stdout=log, stderr=subprocess.STDOUT)
                deadline = time.monotonic() + 600
                while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.5)
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(30)
                if not out.exists():
                    raise RuntimeError(f"{name} did not finish:\n"
                                       + (tmp / f"{name}.log").read_text()[-3000:])
                results.append({"round": r, **json.loads(out.read_text())})
                print(json.dumps(results[-1]), flush=True)
    return results


def stop_up(s: Suite) -> None:
    """Stop ``shouwen up`` (broker and services); the suite's PostgreSQL stays up."""
    s.proc.send_signal(signal.SIGINT)
    s.proc.wait(60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.skip_replay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="lifecycles driven (default 1000)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="all/declared pairs per consumer (the order alternates)")
    parser.add_argument("--only", action="append", help="consumers to replay (default all)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/skip_replay.json"))
    parser.add_argument("--workers", action="store_true",
                        help="replay through real faust workers (bench.skip_worker), the"
                             " suite left running, instead of in this process")
    args = parser.parse_args(argv)
    results: list[dict[str, Any]] = []
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])  # as batch_agent does
    with tempfile.TemporaryDirectory(prefix="shouwen-skip-") as tmp, \
            suite(Path(tmp) / "suite") as s:
        m = Monitor(s).start()
        _warm_up(s, m)
        began = time.monotonic()
        _drive(s, args.n, 48)
        if quiet(m, began, 1800) is None:
            raise RuntimeError("the suite did not settle")
        m.close()
        deliveries = read_topic(s.bootstrap)
        types: dict[str, int] = {}
        for d in deliveries:
            t = dict(d.headers).get("ce_type")
            key = t.decode() if t else "?"
            types[key] = types.get(key, 0) + 1
        if args.workers:
            results = workers(s, len(deliveries), args.rounds, args.only, Path(tmp))
            doc = {"n": args.n, "events": len(deliveries), "types": types,
                   "workers": results}
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(doc, indent=2))
            return 0
        stop_up(s)
        settings = Settings(DATABASE_URL=s.database_url,  # type: ignore[call-arg]
                            KAFKA_BOOTSTRAP_SERVERS=s.bootstrap)
        pool = ConnectionPool(s.database_url, min_size=1, max_size=2,
                              kwargs={"autocommit": True})
        chosen = consumers(settings, pool)
        for name, consumer in chosen.items():
            if args.only and name not in args.only:
                continue
            for r in range(args.rounds):
                pair = [("all", EVERYTHING), ("declared", consumer[2])]
                for label, reads in pair if r % 2 == 0 else pair[::-1]:  # order alternates
                    row = replay(s, settings, pool, deliveries, f"{name}-replay-{label}-{r}",
                                 consumer, reads)
                    results.append({"label": label, "round": r, **row})
                    print(json.dumps(results[-1]), flush=True)
        pool.close()
    doc = {"n": args.n, "events": len(deliveries), "types": types, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2))
    print(summary(doc))
    return 0


def summary(doc: dict[str, Any]) -> str:
    lines = [f"{doc['events']:,} events from {doc['n']:,} lifecycles",
             "| consumer | reads | CPU s/1,000 (process) | PostgreSQL CPU s/1,000 | ev/s |"
             " skipped | load (1 min) |", "|---|---|---|---|---|---|---|"]
    def best(r: dict[str, Any]) -> tuple[str, str]:
        return r["consumer"].split("-replay-")[0], r["label"]

    for r in sorted(doc["results"], key=best):
        lines.append(f"| {best(r)[0]} | {r['label']} | {r['cpu_s_per_1000']:.3f} |"
                     f" {r['postgres_cpu_s_per_1000']:.3f} | {r['events_per_s']:,.0f} |"
                     f" {r['outcomes'].get(Outcome.skipped.value, 0):,} |"
                     f" {r['load_before'][0]} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
