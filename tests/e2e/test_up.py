"""``shouwen up`` as an operator runs it: real processes, embedded PostgreSQL and broker.

Each test starts the console script in a temp working directory with its own data dir and
broker port, appends a case event to the store, and reads it back from the topic, which
proves the relay child is running with the environment ``up`` filled in.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import psutil
import psycopg
import pytest
from kafka import KafkaAdminClient

from events import new_event
from events.case import CaseReceived, Channel
from events.kafka import from_kafka
from services.common import embedded
from services.common.bus import assigned_consumer
from services.common.db import migration_files
from services.common.eventstore import EventStore

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

SHOUWEN = str(Path(sys.executable).parent / "shouwen")
CASE_EVENTS = "shouwen.case-events"
DEAD_LETTER = "shouwen.dead-letter"
PORT_VARIABLES = (
    "SHOUWEN_BROKER_PORT", "SHOUWEN_RELAY_METRICS_PORT", "SHOUWEN_INTAKE_PORT",
    "SHOUWEN_LEDGER_PORT", "SHOUWEN_DEADLINE_METRICS_PORT", "SHOUWEN_NOTIFY_METRICS_PORT",
    "SHOUWEN_EXPORTER_PORT", "SHOUWEN_NOTIFY_MAIL_PORT", "SHOUWEN_NOTIFY_SMS_PORT",
    "SHOUWEN_CHECKPOINT_METRICS_PORT", "SHOUWEN_ROUTING_METRICS_PORT",
    "SHOUWEN_LEDGER_METRICS_PORT",
)


def distinct_free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(embedded.free_port())
    return sorted(ports)


class Up:
    """A running ``shouwen up``: its output lines, kept as they arrive."""

    def __init__(self, workdir: Path, data_dir: Path, **extra_env: str) -> None:
        self.data_dir = data_dir
        # every port up listens on, free ones: a running `make up` or another test is no matter
        self.ports = dict(zip(PORT_VARIABLES, distinct_free_ports(len(PORT_VARIABLES)),
                              strict=True))
        self.broker_port = self.ports["SHOUWEN_BROKER_PORT"]
        self.metrics_port = self.ports["SHOUWEN_RELAY_METRICS_PORT"]
        self.intake_port = self.ports["SHOUWEN_INTAKE_PORT"]
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
               and not k.startswith("SHOUWEN_")}
        env.update({var: str(port) for var, port in self.ports.items()})
        env.update(SHOUWEN_DATA_DIR=str(data_dir), **extra_env)
        self.env = env
        self.proc = subprocess.Popen([SHOUWEN, "up"], cwd=workdir, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._changed:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        regex, deadline, seen = re.compile(pattern), time.monotonic() + timeout, 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if match := regex.search(line):
                        return match
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and seen == len(self.lines)):
                    raise AssertionError(f"no line matching {pattern!r}; output:\n" + self.output())
                self._changed.wait(min(left, 0.5))

    def output(self) -> str:
        return "\n".join(self.lines[-80:])

    def database_url(self) -> str:
        return self.wait_for(r"PostgreSQL\s+(\S+)").group(1)

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def postmaster_pid(self) -> int:
        return int((self.data_dir / "pg" / "postmaster.pid").read_text().splitlines()[0])

    def interrupt(self, sig: int = signal.SIGINT, timeout: float = 15) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(sig)
        status = self.proc.wait(timeout)
        return status, time.monotonic() - started

    def kill_everything(self) -> None:
        """Test cleanup when something went wrong: nothing may outlive the test."""
        leftovers = self.descendants() if self.proc.poll() is None else []
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for p in leftovers:
            p.kill()
        with suppress(FileNotFoundError, ValueError, IndexError, ProcessLookupError):
            postmaster = self.postmaster_pid()  # fast shutdown; pg_ctl refuses to run as root
            os.kill(postmaster, signal.SIGINT)
            with suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
                psutil.Process(postmaster).wait(15)


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A working directory outside pytest's tmp root: embedded PostgreSQL runs as another
    user and needs to traverse the parents, and concurrent pytest sessions re-close
    /tmp/pytest-of-<user> to mode 0700."""
    path = Path(tempfile.mkdtemp(prefix="shouwen-up-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def start_up(workdir: Path) -> Iterator:
    started: list[Up] = []

    def start(data_dir: Path, **extra_env: str) -> Up:
        up = Up(workdir, data_dir, **extra_env)
        started.append(up)
        return up

    yield start
    for up in started:
        up.kill_everything()


def received(case_id: str):
    payload = CaseReceived(
        channel=Channel.window, receipt_number="R-UP-1", unit_id="U1", matter="办理居住证",
        inquirer_name="王五", first_responder_id="S7", first_responder_name="赵六",
        first_responder_duty="窗口受理", first_responder_contact="0935-7654321",
    )
    return new_event(payload, subject=case_id, actor="staff:S7")


def read_case_events(bootstrap: str, case_id: str, timeout: float = 30) -> list:
    consumer = assigned_consumer(bootstrap, CASE_EVENTS)
    found: list = []
    deadline = time.monotonic() + timeout
    try:
        while not found and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                found += [from_kafka(r.value, r.headers) for r in records
                          if r.key == case_id.encode()]
    finally:
        consumer.close()
    return found


def wait_http(url: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return json.loads(r.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def read_all_events(bootstrap: str, idle: float = 3.0) -> list:
    consumer = assigned_consumer(bootstrap, CASE_EVENTS)
    found: list = []
    try:
        while batch := consumer.poll(timeout_ms=int(idle * 1000)):
            for records in batch.values():
                found += [from_kafka(r.value, r.headers) for r in records]
    finally:
        consumer.close()
    return found


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_up_runs_the_suite_on_embedded_defaults_and_stops_everything(start_up, workdir):
    up = start_up(workdir / "data")
    url = up.database_url()
    up.wait_for(r"^relay\s+\| .*publishing to shouwen\.case-events")

    with psycopg.connect(url) as conn:
        applied = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
    assert applied == {name for name, _ in migration_files()}
    admin = KafkaAdminClient(bootstrap_servers=up.bootstrap)
    try:
        assert {CASE_EVENTS, DEAD_LETTER} <= set(admin.list_topics())
    finally:
        admin.close()

    case_id = f"C-UP-{uuid.uuid4().hex[:8]}"
    event = received(case_id)
    EventStore(url).append(case_id, [event], expected_version=0)
    assert read_case_events(up.bootstrap, case_id)[0].id == event.id
    with urllib.request.urlopen(f"http://127.0.0.1:{up.metrics_port}/metrics", timeout=5) as r:
        assert "shouwen_relay_active 1.0" in r.read().decode()
    # intake serves, with the demo directory that up loaded into the empty store
    ready = wait_http(f"http://127.0.0.1:{up.intake_port}/readyz")
    assert ready == {"database": "ok", "schema": "current", "directory": "loaded"}
    up.wait_for(r"^up\s+\| ready: all \d+ services are up")
    # the other commands find the running stack through the data dir (no DATABASE_URL)
    env = {k: v for k, v in up.env.items() if k != "DATABASE_URL"}
    check = subprocess.run([SHOUWEN, "verify"], cwd=workdir, env=env, capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert (up.data_dir / "stack.json").exists()

    children = [p.pid for p in up.descendants()]
    postmaster = up.postmaster_pid()
    assert len(children) >= 2 and alive(postmaster)  # the relay and the broker, at least

    status, took = up.interrupt()
    assert status == 0, up.output()
    assert took < 15
    assert [pid for pid in children if alive(pid)] == []
    assert not alive(postmaster)
    assert [p for p in up.ports.values() if embedded.port_open("127.0.0.1", p)] == []
    assert not (up.data_dir / "stack.json").exists()


def _published_past(url: str, event_id: uuid.UUID, timeout: float = 30.0) -> int:
    """The relay's published_seq, once it is at or past ``event_id``'s commit position."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT r.published_seq, l.seq FROM relay_state r"
                " LEFT JOIN commit_log l ON l.event_id = %s WHERE r.name = 'main'", (event_id,)
            ).fetchone()
            if row is not None and row[1] is not None and row[0] >= row[1]:
                return int(row[0])
            assert time.monotonic() < deadline, f"the relay's cursor stayed at {row}"
            time.sleep(0.1)


def test_a_restarted_up_keeps_the_store_and_republishes_it_to_the_fresh_broker(
    start_up, workdir
):
    data_dir = workdir / "data"
    first = start_up(data_dir)
    url = first.database_url()
    first.wait_for(r"started relay")
    case_id = f"C-UP-{uuid.uuid4().hex[:8]}"
    event = received(case_id)
    EventStore(url).append(case_id, [event], expected_version=0)
    assert read_case_events(first.bootstrap, case_id)[0].id == event.id
    # the relay moves its cursor once the broker has acknowledged, which a consumer may see
    # first: wait until the cursor covers the event (stopping up stops its PostgreSQL too)
    published = _published_past(url, event.id)
    assert first.interrupt()[0] == 0, first.output()

    second = start_up(data_dir)
    url = second.database_url()
    republished = int(second.wait_for(r"re-published (\d+) event\(s\)").group(1))
    # the directory loaded on first start, the case's received event, whatever routing added
    assert republished >= published >= 2
    stored = EventStore(url).read_stream(case_id)
    assert stored[0].event.id == event.id
    assert read_case_events(second.bootstrap, case_id)[0].id == event.id
    resumed = second.wait_for(r"^relay\s+\| .*publishing to shouwen\.case-events from seq (\d+)")
    assert int(resumed.group(1)) >= published  # the relay goes on after what it had sent
    ids = [e.id for e in read_all_events(second.bootstrap)]
    assert len(ids) == len(set(ids)) >= published  # once each, not once per recoverer
    assert second.interrupt(signal.SIGTERM)[0] == 0, second.output()
    second.wait_for(r"^up\s+\| stopped$")


def test_up_refuses_a_taken_port_naming_its_variable_and_starts_nothing(start_up, workdir):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        up = start_up(workdir / "data", SHOUWEN_LEDGER_PORT=str(taken))
        assert up.proc.wait(30) == 2, up.output()
    up.wait_for(rf"port {taken} \(ledger\) is already taken.*SHOUWEN_LEDGER_PORT")
    assert not embedded.port_open("127.0.0.1", up.broker_port)  # no broker was started
    assert not (workdir / "data" / "pg").exists()  # nor PostgreSQL


def test_up_refuses_a_port_that_is_not_a_number_naming_its_variable(start_up, workdir):
    up = start_up(workdir / "data", SHOUWEN_DEADLINE_METRICS_PORT="ninety")
    assert up.proc.wait(30) == 2, up.output()
    up.wait_for(r"error: SHOUWEN_DEADLINE_METRICS_PORT: .*integer")
    assert not (workdir / "data").exists()  # nothing was started or written
