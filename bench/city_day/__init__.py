"""A city's day: N realistic lifecycles through the whole running suite, measured as users
feel it (``python -m bench.city_day --n 59000``; ``python -m bench --only city_day``).

    1. the suite: a real ``shouwen up`` (suite.py), the driver (driver.py) plays N cases
       ─▶ HTTP phase: time, req/s, p50/p99 per request kind, the driver's own CPU
       ─▶ drain: until every stage is caught up (relay, routing, deadline-watch,
          notification and its sending, ledger) three samples in a row
       ─▶ per stage: peak lag, throughput; CPU seconds per case of every process; RSS
       ─▶ reconciliation: accepted = stored = projected; store = topic; notices sent;
          every case with its deadline recorded; dead letters
    2. baselines, same N, same seed, a second ``shouwen up`` running only relay, intake
       and the mail server: intake alone (what the suite costs intake); then each
       consumer started alone on the topic that run left (what each costs on its own)

Figures go to bench-results/city_day.json (and .md); the bench runner's rows are the
headline ones. ``--profile``: py-spy flame graphs of every service through phase 1,
in bench-results/city_day-profile/, and PostgreSQL with pg_stat_statements: calls and
execution time per case of the statements it spent most on (``pg_stat_statements.md``).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from statistics import quantiles
from typing import Any

import psycopg

from bench.city_day.driver import Driver, Tally, World
from bench.city_day.suite import (
    Monitor,
    Suite,
    cpu_between,
    processes,
    quiet,
    reset_statements,
    start_consumer,
    statements_report,
    stop,
    suite,
)
from bench.common import figure

ROOT = Path(__file__).resolve().parents[2]
DIRECTORY = ROOT / "deploy" / "demo" / "directory.yaml"
RESULTS = Path("bench-results")
DRAIN_TIMEOUT = 3600.0
WARM_UP = 5  # cases
ALONE = [("deadline-watch", "deadline-watch"), ("notification", "notification"),
         ("routing", "routing"), ("ledger-worker", "ledger")]  # (command, consumer group)


def run(pg_url: str, quick: bool = False) -> list[dict[str, Any]]:
    """The bench runner's entry: the suite brings its own PostgreSQL (``pg_url`` unused)."""
    n = 100 if quick else int(os.environ.get("SHOUWEN_CITY_DAY_N", "10000"))
    figures: list[dict[str, Any]] = city_day(n)["figures"]
    return figures


def city_day(n: int, *, concurrency: int = 48, baselines: bool = True,
             intake_workers: int = 1, profile: bool = False,
             extra: list[str] | None = None) -> dict[str, Any]:
    """``extra``: consumers (command names) to run one more member of, beside up's."""
    with tempfile.TemporaryDirectory(prefix="shouwen-city-day-") as tmp:
        whole = _whole_suite(Path(tmp) / "suite", n, concurrency, intake_workers, profile,
                             extra or [])
        alone = (_alone(Path(tmp) / "alone", n, concurrency, intake_workers)
                 if baselines else None)
    doc = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "n": n,
           "concurrency": concurrency, "intake_workers": intake_workers,
           "extra_members": extra or [],
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "load_before": os.getloadavg()},
           "suite": whole, "alone": alone}
    doc["figures"] = _figures(doc)
    _write(doc)
    return doc


def _token_maker(data_dir: Path) -> Callable[[str], str]:
    from services.common.auth import issue_token
    from services.common.settings import Settings

    settings = Settings(data_dir=data_dir, environment="development")
    return lambda staff_id: issue_token(settings, staff_id)


def _drive(s: Suite, n: int, concurrency: int, seed: int = 12345
           ) -> tuple[Tally, float, float]:
    driver = Driver(s.intake_url, World.load(DIRECTORY), _token_maker(s.data_dir),
                    concurrency=concurrency, seed=seed)
    wall, cpu = asyncio.run(driver.run(n))
    return driver.tally, wall, cpu


def _warm_up(s: Suite, m: Monitor) -> int:
    """A few cases through everything first, so that no clock includes a consumer joining
    its group or a cache's first load; returns how many cases it registered."""
    began = time.monotonic()
    tally, _, _ = _drive(s, WARM_UP, 4, seed=1)
    if quiet(m, began, 300) is None:
        raise RuntimeError(f"the suite did not settle after {WARM_UP} warm-up cases")
    return tally.registered


def _whole_suite(data_dir: Path, n: int, concurrency: int, intake_workers: int,
                 profile: bool, extra: list[str]) -> dict[str, Any]:
    with suite(data_dir, intake_workers=intake_workers, statements=profile) as s:
        members = [start_consumer(s, name, data_dir / f"{name}-{i}.log")
                   for i, name in enumerate(extra)]  # the group splits the six partitions
        m = Monitor(s, extra_pids=[p.pid for p in members]).start()
        warm = _warm_up(s, m)
        spies = _py_spy(s) if profile else []
        if profile:
            reset_statements(s)
        began, cpu0 = time.monotonic(), m.cpu_snapshot()
        tally, http_wall, driver_cpu = _drive(s, n, concurrency)
        http_end, cpu_http = time.monotonic(), m.cpu_snapshot()
        quiet_at = quiet(m, http_end, DRAIN_TIMEOUT)
        cpu_end, rss = m.cpu_snapshot(), m.rss_now()
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            try:
                spy.wait(60)
            except subprocess.TimeoutExpired:
                spy.kill()
        m.close()
        for member in members:
            stop(member)
        if profile:
            (RESULTS / "city_day-profile" / "pg_stat_statements.md").write_text(
                statements_report(s, n), encoding="utf-8")
        recon = _reconcile(s, tally, warm)
    end = quiet_at if quiet_at is not None else time.monotonic()
    return {"http": _http(tally, http_wall, driver_cpu),
            "end_to_end_seconds": end - began, "quiescent": quiet_at is not None,
            "drain_seconds": end - http_end,
            "stages": _stages(m, began),
            "cpu_seconds_http": cpu_between(cpu0, cpu_http),
            "cpu_seconds": cpu_between(cpu0, cpu_end),
            "rss_bytes": rss, "reconciliation": recon,
            "monitor_failures": m.failures[:20],
            "samples": [[round(x.at - began, 2), x.lags] for x in m.samples if x.at >= began]}


def _alone(data_dir: Path, n: int, concurrency: int, intake_workers: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with suite(data_dir, only=["relay", "intake", "mail-server"],
               intake_workers=intake_workers) as s:
        m = Monitor(s).start()
        _drive(s, WARM_UP, 4, seed=1)  # no consumer to wait for: intake's caches, warm
        cpu0 = m.cpu_snapshot()
        tally, wall, driver_cpu = _drive(s, n, concurrency)
        out["intake"] = {"http": _http(tally, wall, driver_cpu),
                         "cpu_seconds": cpu_between(cpu0, m.cpu_snapshot())}
        for command, group in ALONE:
            log = data_dir / f"{command}.log"
            proc = start_consumer(s, command, log)
            m.extra_pids = [proc.pid]
            began, before = time.monotonic(), m.cpu_snapshot()
            drained = _drained(m, group, began, proc)
            after = m.cpu_snapshot()
            stop(proc)
            m.extra_pids = []
            consumed = max((x.done[group] for x in m.samples if x.at >= began), default=0)
            cpu = cpu_between(before, after)
            own = cpu.get(command, 0.0)
            out[group] = {"events": consumed, "drained": drained is not None,
                          # from the process's start: a worker's startup is in it
                          "seconds": (drained or time.monotonic()) - began,
                          "events_per_cpu_second": consumed / own if own > 0 else None,
                          "cpu_seconds": cpu}
        m.close()
        with psycopg.connect(s.database_url) as conn:
            out["deliveries"] = dict(conn.execute(
                "SELECT state, count(*) FROM notification_deliveries GROUP BY state"
                " ORDER BY 1").fetchall())
    return out


def _drained(m: Monitor, group: str, since: float, proc: subprocess.Popen[bytes],
             steady: int = 3) -> float | None:
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(m.interval)
        recent = [x for x in m.samples if x.at >= since][-steady:]
        if len(recent) == steady and all(x.lags[group] == 0 and x.done[group] > 0
                                         and x.lags["relay"] == 0 for x in recent):
            return recent[0].at
    return None


def _py_spy(s: Suite) -> list[subprocess.Popen[bytes]]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    where = RESULTS / "city_day-profile"
    where.mkdir(parents=True, exist_ok=True)
    procs, seen = [], set()
    for pid, service in sorted(processes(s).items()):
        if service in seen or service in ("postgresql", "broker", "other"):
            continue
        seen.add(service)
        name = service.replace(" ", "-").replace("(", "").replace(")", "")
        procs.append(subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--rate", "50", "--nonblocking", "--subprocesses",
             "--format", "speedscope", "--output", str(where / f"{name}.json")],
            stdout=subprocess.DEVNULL, stderr=(where / f"{name}.log").open("wb")))
    return procs


def _http(t: Tally, wall: float, driver_cpu: float) -> dict[str, Any]:
    kinds = {}
    for kind, seconds in sorted(t.seconds.items()):
        q = quantiles(seconds, n=100, method="inclusive") if len(seconds) > 1 else seconds * 99
        kinds[kind] = {"count": len(seconds), "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}
    return {"seconds": wall, "requests": t.requests, "requests_per_second": t.requests / wall,
            "cases_registered": t.registered, "cases_finished": t.finished,
            "routed_first": t.routed_first, "notices": t.notices, "ratings": t.ratings,
            "complaints": t.complaints,
            "errors": {f"{k} {s}": c for (k, s), c in sorted(t.errors.items())},
            "driver_cpu_seconds": driver_cpu,
            "driver_share_of_a_core": driver_cpu / wall if wall else None, "kinds": kinds}


def _stages(m: Monitor, began: float) -> dict[str, Any]:
    samples = [x for x in m.samples if x.at >= began]
    out: dict[str, Any] = {}
    if not samples:
        return out
    for stage in samples[0].lags:
        lags = [x.lags[stage] for x in samples]
        peak = max(lags)
        busy = [x for x in samples if x.lags[stage] > 0]
        out[stage] = {"peak_lag": peak,
                      "caught_up_after_seconds": (busy[-1].at - began) if busy else 0.0}
        key = {"notification-sending": None}.get(stage, stage)
        if key in samples[0].done:
            done = samples[-1].done[key] - samples[0].done[key]
            span = samples[-1].at - samples[0].at
            out[stage]["events"] = done
            rates = [(b.done[key] - a.done[key]) / (b.at - a.at)
                     for a, b in zip(samples, samples[5:], strict=False) if b.at > a.at]
            out[stage]["mean_events_per_second"] = done / span if span else None
            out[stage]["peak_events_per_second_5s"] = max(rates, default=None)
    return out


def _reconcile(s: Suite, t: Tally, warm: int) -> dict[str, Any]:
    from services.common.topics import topic_ends

    with psycopg.connect(s.database_url) as conn:
        def one(q: str) -> int:
            row = conn.execute(q).fetchone()
            return int(row[0]) if row and row[0] is not None else 0

        out: dict[str, Any] = {
            "accepted": t.registered + warm,
            "stored": one("SELECT count(*) FROM events WHERE type = 'shouwen.case.received.v1'"),
            "indexed": one("SELECT count(*) FROM case_index"),
            "projected": one("SELECT count(*) FROM case_summary"),
            "events_stored": one("SELECT count(*) FROM events"),
            "events_sequenced": one("SELECT coalesce(max(seq), 0) FROM commit_log"),
            "cases_with_deadline_set": one(
                "SELECT count(DISTINCT stream_id) FROM events"
                " WHERE type = 'shouwen.case.deadline_set.v1'"),
            "summaries_without_deadlines": one(
                "SELECT count(*) FROM case_summary WHERE deadlines = '{}'::jsonb"),
            "deliveries": dict(conn.execute(
                "SELECT state, count(*) FROM notification_deliveries GROUP BY state"
                " ORDER BY 1").fetchall()),
        }
    out["events_on_topic"] = sum((topic_ends(s.bootstrap, "shouwen.case-events", wait=5.0)
                                  or {}).values())
    out["dead_letters"] = sum((topic_ends(s.bootstrap, "shouwen.dead-letter", wait=5.0)
                               or {}).values())
    out["ok"] = (out["accepted"] == out["stored"] == out["indexed"] == out["projected"]
                 and out["events_stored"] == out["events_sequenced"] == out["events_on_topic"]
                 and set(out["deliveries"]) <= {"sent"} and out["dead_letters"] == 0
                 and out["cases_with_deadline_set"] == out["stored"]
                 and out["summaries_without_deadlines"] == 0)
    return out


def _figures(doc: dict[str, Any]) -> list[dict[str, Any]]:
    s, n = doc["suite"], doc["n"]
    http = s["http"]
    alone = doc["alone"] or {}
    intake_alone = alone.get("intake", {}).get("http", {}).get("requests_per_second")
    rows = [
        figure(f"city day: {n:,} cases end to end (HTTP + drain)", s["end_to_end_seconds"],
               "s"),
        figure("city day: HTTP phase with the whole suite", http["requests_per_second"],
               "req/s", baseline=intake_alone),
        figure("city day: cases per second end to end", n / s["end_to_end_seconds"],
               "cases/s", goal_min=59000 / 300 if n >= 20000 else None),
        figure("city day: suite CPU per case", 1000 * sum(s["cpu_seconds"].values()) / n,
               "ms"),
        figure("city day: driver's share of a core", 100 * (http["driver_share_of_a_core"] or 0),
               "%"),
        figure("city day: reconciled (accepted = stored = projected = topic)",
               1.0 if s["reconciliation"]["ok"] else 0.0, "ok", goal_min=1.0),
    ]
    for stage, st in s["stages"].items():
        rows.append(figure(f"city day: {stage} peak lag", st["peak_lag"], "events"))
    return rows


def _write(doc: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "city_day.json").write_text(
        json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    (RESULTS / "city_day.md").write_text(report(doc), encoding="utf-8")


def report(doc: dict[str, Any]) -> str:
    s, n = doc["suite"], doc["n"]
    h = s["http"]
    lines = [f"# City day: {n:,} cases ({doc['when']})", "",
             f"machine: {doc['machine']['cpus']} CPUs, load before "
             f"{', '.join(f'{x:.1f}' for x in doc['machine']['load_before'])}; "
             f"{doc['concurrency']} concurrent lifecycles; intake workers "
             f"{doc['intake_workers']}; extra consumer members: "
             f"{', '.join(doc.get('extra_members') or []) or 'none'}", "",
             f"- end to end {s['end_to_end_seconds']:.1f} s "
             f"({'quiescent' if s['quiescent'] else 'NOT quiescent'}), HTTP phase "
             f"{h['seconds']:.1f} s ({h['requests']:,} requests, "
             f"{h['requests_per_second']:.0f} req/s), drain after it {s['drain_seconds']:.1f} s",
             f"- driver: {h['driver_cpu_seconds']:.1f} CPU s, "
             f"{100 * (h['driver_share_of_a_core'] or 0):.1f}% of a core; errors: "
             f"{h['errors'] or 'none'}; routing referred first: {h['routed_first']}", "",
             "| request | count | p50 ms | p99 ms |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['count']:,} | {v['p50_ms']:.1f} | {v['p99_ms']:.1f} |"
              for k, v in h["kinds"].items()]
    lines += ["", "| stage | peak lag | caught up after s | events | mean/s | peak 5 s/s |",
              "|---|---|---|---|---|---|"]
    for stage, st in s["stages"].items():
        lines.append(f"| {stage} | {st['peak_lag']:,} | {st['caught_up_after_seconds']:.1f} | "
                     f"{st.get('events', '')} | {_f(st.get('mean_events_per_second'))} | "
                     f"{_f(st.get('peak_events_per_second_5s'))} |")
    lines += ["", "| process | CPU s (HTTP phase) | CPU s (whole) | ms per case | RSS MB |",
              "|---|---|---|---|---|"]
    for proc, cpu in sorted(s["cpu_seconds"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {proc} | {s['cpu_seconds_http'].get(proc, 0):.1f} | {cpu:.1f} | "
                     f"{1000 * cpu / n:.1f} | {s['rss_bytes'].get(proc, 0) / 2**20:.0f} |")
    total = sum(s["cpu_seconds"].values())
    lines.append(f"| **all** | {sum(s['cpu_seconds_http'].values()):.1f} | {total:.1f} | "
                 f"{1000 * total / n:.1f} | {sum(s['rss_bytes'].values()) / 2**20:.0f} |")
    lines += ["", f"reconciliation: `{json.dumps(s['reconciliation'], ensure_ascii=False)}`"]
    alone = doc.get("alone")
    if alone:
        ia = alone["intake"]
        lines += ["", "## Baselines (same N and seed)", "",
                  f"- intake alone (relay, intake, mail server; consumers stopped): HTTP phase "
                  f"{ia['http']['seconds']:.1f} s, {ia['http']['requests_per_second']:.0f} req/s;"
                  f" CPU ms per case: " + ", ".join(
                      f"{k} {1000 * v / n:.1f}" for k, v in sorted(ia["cpu_seconds"].items(),
                                                                    key=lambda kv: -kv[1])
                      if v > 0.05)]
        for group, a in alone.items():
            if group in ("intake", "deliveries"):
                continue
            lines.append(f"- {group} alone on that topic: {a['events']:,} events, drained "
                         f"{a['seconds']:.1f} s after its start{'' if a['drained'] else ' NOT'}"
                         f" ({_f(a['events_per_cpu_second'])} events per CPU second of its "
                         f"own); CPU ms per case: "
                         + ", ".join(f"{k} {1000 * v / n:.1f}"
                                     for k, v in sorted(a["cpu_seconds"].items(),
                                                        key=lambda kv: -kv[1]) if v > 0.05))
        lines.append(f"- deliveries after the baselines: {alone.get('deliveries')}")
    return "\n".join(lines) + "\n"


def _f(x: float | None) -> str:
    return "" if x is None else f"{x:,.0f}"
