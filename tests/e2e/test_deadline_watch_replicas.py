"""Two ``shouwen deadline-watch`` processes on the real broker and PostgreSQL; one is killed
with SIGKILL midway. Received events go onto the topic; the consumers turn them into timers
and deadline_set events; the loops fire every overdue timer (warning, breach, three ladder
steps) — each exactly once across the two replicas and the crash."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from events import CloudEvent, new_event
from events.case import CaseReceived, Channel
from services.calendar.store import load_packaged_if_empty
from services.cases.repository import CaseRepository
from services.common.embedded import free_port
from services.deadline_watch.calendar_port import CIVIL_TIME
from services.domain.case import CaseState
from tests.integration.faust_app_fixture import produce
from tests.waits import wait_until

ROOT = Path(__file__).resolve().parents[2]
LONG_AGO = datetime(2026, 9, 28, 10, tzinfo=CIVIL_TIME).astimezone(UTC)  # all overdue now
FIRED = ["deadline_breached", "deadline_warned", "escalated1", "escalated2", "escalated3"]


def received(case_id: str) -> CloudEvent:
    return new_event(CaseReceived(
        channel=Channel.phone, receipt_number=f"R-{case_id}", unit_id="ZWFWZX",
        matter="补办社保卡", inquirer_name="张三", first_responder_id="ZX005",
        first_responder_name="李娜", first_responder_duty="窗口受理",
        first_responder_contact="0935-8100105"), subject=case_id, actor="staff:ZX005",
        time=LONG_AGO)


def store_and_send(url: str, settings, ids: list[str]) -> None:
    from psycopg_pool import ConnectionPool

    events = [received(c) for c in ids]
    with ConnectionPool(url, min_size=1, max_size=1) as pool, pool.connection() as conn:
        CaseRepository(pool).append_many([(CaseState(case_id=e.subject), [e]) for e in events],
                                         conn)
    produce(settings, *events)


def due_pending(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM deadline_timers WHERE state = 'pending'"
                           " AND fire_at <= now()").fetchone()
    return int(row[0]) if row else 0


def fired(url: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT stream_id, type, data->>'ladder_step' FROM events"
            " WHERE actor = 'service:deadline-watch' AND type NOT LIKE '%%deadline_set%%'"
        ).fetchall()
    out: dict[str, list[str]] = {}
    for case_id, type_, step in rows:
        out.setdefault(case_id, []).append(type_.split(".")[2] + (step or ""))
    return out


def start(env: dict[str, str], log: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**env, "SHOUWEN_DEADLINE_METRICS_PORT": str(port),
           "SHOUWEN_DEADLINE_TICK_SECONDS": "0.1", "SHOUWEN_DEADLINE_BATCH_SIZE": "5"}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "services.cli", "deadline-watch"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_two_replicas_and_a_kill_fire_every_timer_once(settings, env_for, database_url,
                                                       demo_directory, tmp_path):
    load_packaged_if_empty(database_url)
    env = {**env_for, "SHOUWEN_DATA_DIR": str(tmp_path / "data")}
    first = [f"C-E{i:02d}" for i in range(20)]
    store_and_send(database_url, settings, first)
    ports = [free_port(), free_port()]
    a = start(env, tmp_path / "a.log", ports[0])
    b = start(env, tmp_path / "b.log", ports[1])
    try:
        deadline = time.monotonic() + 90
        while not any(len(v) >= 3 for v in fired(database_url).values()):
            assert time.monotonic() < deadline, (tmp_path / "a.log").read_text()[-3000:]
            time.sleep(0.2)
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=10)
        later = [f"C-L{i:02d}" for i in range(5)]
        store_and_send(database_url, settings, later)  # only b is left to consume them
        everything = first + later
        deadline = time.monotonic() + 120
        while sum(len(fired(database_url).get(c, [])) for c in everything) < 5 * 25:
            assert time.monotonic() < deadline, (tmp_path / "b.log").read_text()[-3000:]
            time.sleep(0.3)
        # a second firing needs a due timer still pending: wait until none is (the loop
        # marks a timer fired in the transaction of its event), then the events are final
        wait_until(lambda: due_pending(database_url) == 0, timeout=60,
                   what="every due timer settled")
        by_case = fired(database_url)
        assert {c: sorted(by_case[c]) for c in everything} == {c: FIRED for c in everything}
        with psycopg.connect(database_url) as conn:
            sets = Counter(r[0] for r in conn.execute(
                "SELECT stream_id FROM events WHERE type LIKE '%%deadline_set%%'"))
        assert set(sets.values()) == {1}  # one deadline_set per case: the forward clock
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{ports[1]}/metrics").read().decode()
        assert "shouwen_deadline_breaches_total" in metrics
        assert "shouwen_deadline_firing_lateness_seconds_count" in metrics
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
