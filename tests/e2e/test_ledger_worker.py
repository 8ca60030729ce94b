"""The ledger consumer as a real process: store -> relay -> topic -> ``python -m
services.ledger.worker`` -> case_summary / ledger_rows; killed with SIGKILL midway and
restarted, it ends with exactly what a rebuild from the topic builds."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from services.common import embedded
from services.ledger.rebuild import rebuild_from_topic
from services.relay.relay import run as run_relay
from tests.integration.ledger_cases import append_cases
from tests.integration.scrape import scrape

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def relay(settings) -> Iterator[None]:
    stop = threading.Event()
    quiet = settings.model_copy(update={"relay_metrics_port": 0})
    thread = threading.Thread(target=run_relay, args=(quiet,), kwargs={"stop": stop})
    thread.start()
    yield
    stop.set()
    thread.join(30)


@pytest.fixture
def worker(env_for, tmp_path, relay) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    log = tmp_path / "ledger-worker.log"

    def start(metrics_port: int = 0) -> subprocess.Popen[bytes]:
        env = {**env_for, "SHOUWEN_DATA_DIR": str(tmp_path / "data"),
               "SHOUWEN_LEDGER_METRICS_PORT": str(metrics_port)}
        with log.open("ab") as out:
            procs.append(subprocess.Popen([sys.executable, "-m", "services.ledger.worker"],
                                          cwd=ROOT, env=env, stdout=out,
                                          stderr=subprocess.STDOUT))
        return procs[-1]

    yield start
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def projected(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), coalesce(sum(version), 0) FROM case_summary"
                           ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def stored(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(DISTINCT stream_id), count(*) FROM events"
                           " WHERE type LIKE 'shouwen.case.%'").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def wait_until(check: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.3)


def snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY case_id").fetchall()
                for t in ("case_summary", "ledger_rows")}


def test_events_on_the_topic_become_summaries_and_a_killed_worker_loses_nothing(
    settings, worker
) -> None:
    url = str(settings.database_url)
    append_cases(url, 60, prefix="a")
    first = worker()
    wait_until(lambda: projected(url)[0] >= 20, "the first cases projected")
    append_cases(url, 60, prefix="b")
    time.sleep(0.5)
    first.send_signal(signal.SIGKILL)  # wherever it is: mid-batch, before an ack...
    first.wait(10)
    worker()
    cases, events = stored(url)
    wait_until(lambda: projected(url) == (cases, events), "every event projected")
    built = snapshot(url)
    rebuild_from_topic(url, str(settings.kafka_bootstrap_servers), settings.case_events_topic)
    assert snapshot(url) == built


def on_topic(url: str) -> int:
    """Events the relay publishes to the case-events topic: every one in the store."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    assert row is not None
    return int(row[0])


def test_the_metrics_port_counts_every_event_projected(settings, worker) -> None:
    url = str(settings.database_url)
    append_cases(url, 12, prefix="m")
    port = embedded.free_port()
    proc = worker(metrics_port=port)
    cases, events = stored(url)
    wait_until(lambda: projected(url) == (cases, events), "every event projected")
    wait_until(lambda: scrape(port).get("shouwen_ledger_events_projected_total")
               == on_topic(url), "every event counted", timeout=30)

    figures = scrape(port)
    assert figures["shouwen_ledger_batches_total"] >= 1
    assert figures["shouwen_ledger_batch_seconds_count"] == figures[
        "shouwen_ledger_batches_total"]
    assert (figures["shouwen_ledger_dead_letters_total"],
            figures["shouwen_ledger_gap_fills_total"]) == (0, 0)
    offsets = [v for k, v in figures.items() if k.startswith("shouwen_ledger_last_offset{")]
    assert offsets and sum(o + 1 for o in offsets) == on_topic(url)  # offsets count from 0
    assert figures["shouwen_ledger_last_projected_timestamp_seconds"] > time.time() - 60
    assert proc.poll() is None
