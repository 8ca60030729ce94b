"""``python -m bench.city_day [--n 59000]``: see bench/city_day/__init__.py."""

from __future__ import annotations

import argparse
import signal
import sys

from bench.city_day import city_day, report
from bench.common import print_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.city_day",
                                     description="A city's day through the whole suite.")
    parser.add_argument("--n", type=int, default=10000,
                        help="cases (default a scaled day, 10000; a day of Beijing: 59000)")
    parser.add_argument("--concurrency", type=int, default=48,
                        help="lifecycles in flight at once")
    parser.add_argument("--intake-workers", type=int, default=1,
                        help="uvicorn processes of intake (SHOUWEN_INTAKE_WORKERS)")
    parser.add_argument("--no-baselines", action="store_true",
                        help="skip intake alone and each consumer alone")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy flame graphs of each service (bench-results/city_day-profile)")
    parser.add_argument("--extra", action="append", default=[], metavar="CONSUMER",
                        help="one more member of a consumer group (notification, routing,"
                             " deadline-watch, ledger-worker); repeatable: 1, 2, 3 members")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the `finally`s stop the suite
    doc = city_day(args.n, concurrency=args.concurrency, baselines=not args.no_baselines,
                   intake_workers=args.intake_workers, profile=args.profile,
                   extra=args.extra)
    print(report(doc))
    print_table(doc["figures"])
    print("\nwrote bench-results/city_day.json and city_day.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
