"""One consumer's batch agent as a real faust worker under a fresh name, replaying the topic
once and timing itself: ``python -m bench.skip_worker CONSUMER NAME all|declared N OUT``
(run by ``bench.skip_replay --workers``; the environment is the suite's).

The process CPU (time.process_time, every thread: faust's fetching and acking, the batch
handling) and wall time from the end of the first batch to the end of the batch that
brings the count to N, written to OUT as JSON; then the worker stops itself.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool

from bench.skip_replay import consumers
from services.common.consumer import Outcome
from services.common.deadletter import Delivery
from services.common.faust_base import make_app, run_worker
from services.common.faust_batch import batch_agent
from services.common.reads import EVERYTHING
from services.common.settings import get_settings


def main(argv: list[str]) -> int:
    consumer, name, mode, total, out = argv[0], argv[1], argv[2], int(argv[3]), Path(argv[4])
    settings = get_settings()
    assert settings.database_url is not None
    pool = ConnectionPool(settings.database_url, min_size=1, max_size=2,
                          kwargs={"autocommit": True})
    handler, batch_handler, reads, size = consumers(settings, pool)[consumer]
    app = make_app(settings, name)
    seen: dict[str, Any] = {"n": 0, "skipped": 0}

    def observe(deliveries: list[Delivery], outcomes: list[Outcome], seconds: float) -> None:
        seen["n"] += len(deliveries)
        seen["skipped"] += sum(o is Outcome.skipped for o in outcomes)
        if "cpu0" not in seen:
            gc.collect()
            gc.freeze()  # as run_worker does 5 s after start: the same for every run
            seen.update(cpu0=time.process_time(), wall0=time.perf_counter(), first=seen["n"])
            return
        if seen["n"] >= total and "done" not in seen:
            seen["done"] = True
            events = seen["n"] - seen["first"]
            cpu, wall = time.process_time() - seen["cpu0"], time.perf_counter() - seen["wall0"]
            out.write_text(json.dumps({
                "consumer": consumer, "mode": mode, "events": events, "skipped": seen["skipped"],
                "cpu_s_per_1000": cpu / events * 1000, "wall_s": wall,
                "events_per_s": events / wall, "load": os.getloadavg()}))
            os.kill(os.getpid(), signal.SIGTERM)

    batch_agent(app, settings, name, handler, batch_handler, max_size=size, max_wait=0.05,
                observe=observe, reads=EVERYTHING if mode == "all" else reads)
    run_worker(app, loglevel="WARNING")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
