"""A real ``shouwen up`` of the bench's own, and what it does, watched from outside.

    suite(data_dir, ...)   embedded PostgreSQL in data_dir/pg (the bench's, so its URL and
                           postmaster are known) ─▶ ``python -m services.cli up`` with every
                           port free and chosen here, its own data dir and broker (Tansu on
                           a free port), public and notification rate limits lifted (one
                           client address, thirty staff: a city has thousands), logs at
                           WARNING ─▶ wait for intake's /readyz ─▶ yield ─▶ SIGINT, stop
    Monitor                a thread sampling once a second: each stage's lag (relay:
                           commit_log ─ published_seq; routing, deadline-watch, notification,
                           ledger: topic end ─ the group's committed offsets; checkpoint:
                           commit_log ─ the newest tree size; notification sending: deliveries
                           pending), and CPU seconds of every process of the suite (psutil),
                           grouped by service
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg

from services.common import embedded

PORTS = ["SHOUWEN_INTAKE_PORT", "SHOUWEN_LEDGER_PORT", "SHOUWEN_RELAY_METRICS_PORT",
         "SHOUWEN_ROUTING_METRICS_PORT", "SHOUWEN_LEDGER_METRICS_PORT",
         "SHOUWEN_DEADLINE_METRICS_PORT", "SHOUWEN_NOTIFY_METRICS_PORT", "SHOUWEN_EXPORTER_PORT",
         "SHOUWEN_CHECKPOINT_METRICS_PORT", "SHOUWEN_NOTIFY_MAIL_PORT", "SHOUWEN_NOTIFY_SMS_PORT",
         "SHOUWEN_BROKER_PORT"]
MEMBER_PORTS = ["SHOUWEN_ROUTING_METRICS_PORT", "SHOUWEN_LEDGER_METRICS_PORT",
                "SHOUWEN_DEADLINE_METRICS_PORT", "SHOUWEN_NOTIFY_METRICS_PORT"]
LIFTED = {"SHOUWEN_PUBLIC_RATE_LIMIT_PER_MINUTE": "1000000000",
          "SHOUWEN_NOTIFY_RATE_PER_RECIPIENT_PER_HOUR": "1000000000",
          "SHOUWEN_NOTIFY_DAILY_CAP_SMS": "1000000000",
          "SHOUWEN_NOTIFY_DAILY_CAP_EMAIL": "1000000000",
          "SHOUWEN_NOTIFY_DAILY_CAP_WEBHOOK": "1000000000"}
NOT_AWAITED = {"checkpoint"}  # signs every 30 s: its lag is reported, not waited out
CONSUMERS = ("routing", "deadline-watch", "notification", "ledger")
SERVICES = ("relay", "intake", "routing", "ledger-worker", "ledger", "deadline-watch",
            "mail-server", "notification", "checkpoint", "exporter")


@dataclass
class Suite:
    data_dir: Path
    env: dict[str, str]
    database_url: str
    bootstrap: str
    intake_url: str
    proc: subprocess.Popen[bytes]
    postmaster: int


@contextmanager
def suite(data_dir: Path, *, only: list[str] | None = None, intake_workers: int = 1,
          extra_env: dict[str, str] | None = None, statements: bool = False
          ) -> Iterator[Suite]:
    """``statements``: PostgreSQL loads pg_stat_statements (one restart before up starts)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    url = embedded.start_postgres(data_dir / "pg")
    if statements:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
            conn.execute("ALTER SYSTEM SET pg_stat_statements.track = 'all'")
        embedded.stop_postgres(data_dir / "pg")
        url = embedded.start_postgres(data_dir / "pg")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    ports = {var: embedded.free_port() for var in PORTS}
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update({k: str(v) for k, v in ports.items()})
    env.update(LIFTED)
    env.update({  # where a consumer started beside up (baselines, --extra) sends, as up's
        "SHOUWEN_NOTIFY_SMTP_HOST": "127.0.0.1",
        "SHOUWEN_NOTIFY_SMTP_PORT": str(ports["SHOUWEN_NOTIFY_MAIL_PORT"]),
        "SHOUWEN_NOTIFY_SMS_GATEWAY_URL":
            f"http://127.0.0.1:{ports['SHOUWEN_NOTIFY_SMS_PORT']}/sms"})
    env.update({"DATABASE_URL": url, "SHOUWEN_DATA_DIR": str(data_dir),
                "SHOUWEN_INTAKE_WORKERS": str(intake_workers), "SHOUWEN_LOG_LEVEL": "WARNING",
                "SHOUWEN_UP_ONLY": ",".join(only or []), "PYTHONUNBUFFERED": "1",
                **(extra_env or {})})
    log = (data_dir / "up.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "up"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    intake = f"http://127.0.0.1:{ports['SHOUWEN_INTAKE_PORT']}"
    try:
        _wait_ready(intake, proc, data_dir / "up.log")
        pid = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
        yield Suite(data_dir, env, url, f"127.0.0.1:{ports['SHOUWEN_BROKER_PORT']}", intake,
                    proc, pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
        embedded.stop_postgres(data_dir / "pg")


def _wait_ready(intake: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"shouwen up exited ({proc.returncode}):\n"
                               + log.read_text(errors="replace")[-3000:])
        with suppress(OSError), urllib.request.urlopen(intake + "/readyz", timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.5)
    raise RuntimeError("intake was not ready within 180 s:\n"
                       + log.read_text(errors="replace")[-3000:])


def reset_statements(s: Suite) -> None:
    with psycopg.connect(s.database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")


def statements_report(s: Suite, cases: int, top: int = 40) -> str:
    """The statements PostgreSQL spent most time on since the reset, then the most frequent
    ones (BEGIN, COMMIT and SAVEPOINT among them): calls and time per case (whole suite,
    every database user). Execution time includes waiting for locks."""
    with psycopg.connect(s.database_url, autocommit=True) as conn:
        calls, ms = conn.execute(
            "SELECT sum(calls), sum(total_exec_time) FROM pg_stat_statements").fetchone() or (0, 0)
        lines = [f"# pg_stat_statements: {cases} cases; {int(calls or 0) / cases:.1f}"
                 f" statements and {float(ms or 0) / cases:.2f} ms of execution per case"]
        for title, order in (("most time", "total_exec_time"), ("most calls", "calls")):
            rows = conn.execute(
                "SELECT calls, total_exec_time, rows, regexp_replace(query, '\\s+', ' ', 'g')"
                f" FROM pg_stat_statements ORDER BY {order} DESC LIMIT %s", (top,)).fetchall()
            lines += ["", f"## {title}", "",
                      "| calls/case | exec ms/case | rows/call | statement |", "|---|---|---|---|"]
            for n, total, nrows, query in rows:
                lines.append(f"| {n / cases:.2f} | {total / cases:.3f} |"
                             f" {nrows / max(n, 1):.1f} | `{query[:220]}` |")
    return "\n".join(lines) + "\n"


def start_consumer(s: Suite, name: str, log: Path) -> subprocess.Popen[bytes]:
    """One consumer of the suite as a process of its own (the baselines: alone)."""
    argv = [sys.executable, "-m", "services.cli", name]
    env = {**s.env, "KAFKA_BOOTSTRAP_SERVERS": s.bootstrap,  # metrics: a port of its own
           **{var: str(embedded.free_port()) for var in MEMBER_PORTS}}
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


# -- what each process is -------------------------------------------------------------------
def service_of(p: psutil.Process, postmaster: int) -> str | None:
    try:
        cmd = p.cmdline()
        name = p.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    if p.pid == postmaster or name.startswith("postgres"):
        return "postgresql"
    if "tansu" in " ".join(cmd[:1]) or name == "tansu":
        return "broker"
    if "services.cli" in cmd:
        rest = cmd[cmd.index("services.cli") + 1:]
        if rest[:1] == ["dashboard"]:
            return "exporter"
        return rest[0] if rest else None
    return None


def processes(s: Suite, extra: list[int] = ()) -> dict[int, str]:  # type: ignore[assignment]
    """pid -> service, for the suite's processes now (a process spawned by a service, e.g.
    a uvicorn worker, counts for it)."""
    out: dict[int, str] = {}
    roots = [s.proc.pid, s.postmaster, *extra]
    for root in roots:
        with suppress(psutil.NoSuchProcess):
            top = psutil.Process(root)
            out[root] = ("up (supervisor)" if root == s.proc.pid
                         else service_of(top, s.postmaster) or "other")
            for child in top.children(recursive=True):
                out[child.pid] = service_of(child, s.postmaster) or _parent_service(child, out)
    return out


def _parent_service(p: psutil.Process, known: dict[int, str]) -> str:
    with suppress(psutil.NoSuchProcess):
        for parent in p.parents():
            if parent.pid in known and known[parent.pid] != "up (supervisor)":
                return known[parent.pid]
    return "other"


# -- sampling -------------------------------------------------------------------------------
@dataclass
class Sample:
    at: float
    lags: dict[str, int]
    done: dict[str, int]  # progress: events published / committed / covered


@dataclass
class Monitor:
    s: Suite
    topic: str = "shouwen.case-events"
    interval: float = 1.0
    extra_pids: list[int] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    cpu: dict[int, tuple[str, float]] = field(default_factory=dict)  # pid -> (service, cpu s)
    rss: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="monitor")
        self._reader: Any = None

    def start(self) -> Monitor:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        if self._reader is not None:
            self._reader.close()

    def _loop(self) -> None:
        with psycopg.connect(self.s.database_url, autocommit=True) as conn:
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    self.samples.append(self.sample(conn))
                except Exception as exc:  # counted: a gap in the samples must show
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                with suppress(Exception):
                    self._sample_cpu()
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def sample(self, conn: psycopg.Connection) -> Sample:
        from services.dashboard.sources import BrokerReader

        if self._reader is None:
            self._reader = BrokerReader(self.s.bootstrap, [self.topic], "shouwen.dead-letter")
        row = conn.execute(
            "SELECT (SELECT coalesce(max(seq), 0) FROM commit_log),"
            " (SELECT coalesce(max(published_seq), 0) FROM relay_state),"
            " (SELECT coalesce(max(tree_size), 0) FROM checkpoints),"
            " (SELECT count(*) FROM notification_deliveries"
            "  WHERE state IN ('pending', 'sending'))").fetchone()
        assert row is not None
        sequenced, published, covered, unsent = (int(v) for v in row)
        ends = self._reader.ends()
        end = sum(ends.values())
        groups = self._reader.group_offsets()
        lags = {"relay": sequenced - published, "checkpoint": sequenced - covered,
                "notification-sending": unsent}
        done = {"relay": published, "checkpoint": covered, "topic": end,
                "sequenced": sequenced}
        for name in CONSUMERS:
            offsets = next((o for g, o in groups.items() if g.startswith(name)), None)
            committed = sum(offsets.values()) if offsets else 0
            lags[name] = max(0, end - committed)
            done[name] = committed
        return Sample(time.monotonic(), lags, done)

    def _sample_cpu(self) -> None:
        for pid, service in processes(self.s, self.extra_pids).items():
            with suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                t = psutil.Process(pid).cpu_times()
                self.cpu[pid] = (service, t.user + t.system)

    def cpu_snapshot(self) -> dict[int, tuple[str, float]]:
        self._sample_cpu()
        return dict(self.cpu)

    def rss_now(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for pid, service in processes(self.s, self.extra_pids).items():
            with suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                out[service] += psutil.Process(pid).memory_info().rss
        return dict(out)


def cpu_between(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
                ) -> dict[str, float]:
    """CPU seconds per service between two snapshots (a process gone since: its last sample)."""
    out: dict[str, float] = defaultdict(float)
    for pid, (service, cpu) in after.items():
        out[service] += cpu - before.get(pid, (service, 0.0))[1]
    return dict(out)


def quiet(m: Monitor, since: float, timeout: float, steady: int = 3) -> float | None:
    """Wait until every stage is caught up for ``steady`` samples in a row; returns the
    time (monotonic) of the first of them, or None after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(m.interval)
        recent = [x for x in m.samples if x.at >= since][-steady:]
        if len(recent) == steady and all(
                not any(v for k, v in x.lags.items() if k not in NOT_AWAITED)
                and x.done["topic"] >= x.done["sequenced"]
                and x.done["sequenced"] == recent[0].done["sequenced"] for x in recent):
            return recent[0].at
    return None
