"""The relay beside kafka-python producing the same messages directly, in the same run.

    sequencer    N stored events (a typical CaseReceived) placed in commit order, timed alone
    throughput   the relay publishing them: ``run(once=True)`` — reading, converting,
                 producing, flushing per batch, moving the cursor (best of 3)
                 vs the very same messages (key, value, headers) sent by kafka-python with the
                 same producer config, one flush at the end (best of 3, in turns)
    re-publish   the history onto an empty topic: ``shouwen republish --from 1``, and a
                 running relay's back-fill after its broker was emptied (behind new events),
                 each beside that direct produce
    lag          events written one per commit (4 processes) at a steady 1,000/s, then 250/s,
                 for a few seconds while ``python -m services.relay`` runs; a consumer notes
                 each arrival, minus the event's recorded_at (looked up in the store after)
                 vs 1,000 messages/s produced straight to the broker: arrival - send time

``python -m bench.relay_bench`` runs it alone (embedded PostgreSQL and Tansu when
DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are unset). Figures on a shared machine are indicative.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry
from psycopg.types.json import Jsonb

from bench.common import figure
from events import CloudEvent, new_event
from events.case import CaseReceived, Channel
from events.kafka import to_kafka
from services.common.bus import ensure_topics, producer
from services.common.eventstore import GENESIS, EventStore, chain_hash
from services.common.settings import Settings
from services.relay.publish import FLUSH_TIMEOUT, Outgoing, fetch
from services.relay.relay import republish
from services.relay.relay import run as run_relay
from services.relay.sequencer import sequence_pass

EVENTS = 20_000
ROUNDS = 3
RATE = 1_000
LIGHT_RATE = 250  # also measured: the relay's own lag when the load leaves the CPU to it
SECONDS = 10.0
APPENDERS = 4
STARTUP = 5.0  # seconds for the load processes to start (spawn, imports) before the clock
LAG_GOAL_MS = 200.0


def received(case_id: str) -> CloudEvent:
    payload = CaseReceived(
        channel=Channel.window, receipt_number=f"R-{case_id}", unit_id="U-0931-07",
        matter="补办社会保障卡，原卡遗失，需要办理挂失并重新制卡", inquirer_name="张三",
        inquirer_phone="13800000000", inquirer_address="甘肃省武威市凉州区东大街12号",
        first_responder_id="S-1042", first_responder_name="李四",
        first_responder_duty="社保窗口受理", first_responder_contact="0935-1234567",
    )
    return new_event(payload, subject=case_id, actor="staff:S-1042")


def _settings(url: str, bootstrap: str, topic: str) -> Settings:
    return Settings.model_validate({
        "DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "case_events_topic": topic,
        "dead_letter_topic": f"{topic}.dead-letter", "relay_metrics_port": 0,
    })


# -- throughput -------------------------------------------------------------------------
def store(url: str, events: int, per_stream: int = 10) -> None:
    es = EventStore(url)
    with psycopg.connect(url, autocommit=True) as conn:
        for s in range(events // per_stream):
            case = f"B-{s}"
            es.append(case, [received(case) for _ in range(per_stream)], 0, conn=conn)


def sequencer_throughput(url: str, events: int) -> float:
    """Place every stored event in commit order (the relay's first step), timed alone."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        while sequence_pass(conn):
            pass
    return events / (time.perf_counter() - started)


@dataclass
class Rate:
    """Events per wall-clock second, and per CPU-second of this process (the latter shrugs
    off most of a shared machine's passing load; the broker's and PostgreSQL's CPU are in
    neither)."""

    wall: float = 0.0
    cpu: float = 0.0

    def best(self, other: Rate) -> Rate:
        return Rate(max(self.wall, other.wall), max(self.cpu, other.cpu))


@contextmanager
def _timed(count: int, into: list[Rate]) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    into.append(Rate(count / (time.perf_counter() - wall), count / (time.process_time() - cpu)))


def relay_throughput(settings: Settings, events: int) -> Rate:
    """``run(once=True)`` from cursor 0 onto a new topic: read, convert, produce, flush per
    batch, move the cursor (the events are already sequenced)."""
    url, bootstrap = str(settings.database_url), str(settings.kafka_bootstrap_servers)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE relay_state SET published_seq = 0 WHERE name = 'main'")
    ensure_topics(bootstrap, [settings.case_events_topic, settings.dead_letter_topic])
    rates: list[Rate] = []
    with _timed(events, rates):
        run_relay(settings, once=True, registry=CollectorRegistry())
    return rates[0]


def direct_throughput(bootstrap: str, topic: str, messages: list[Outgoing]) -> Rate:
    """The same messages with kafka-python and the same producer config, one flush."""
    ensure_topics(bootstrap, [topic])
    rates: list[Rate] = []
    with _timed(len(messages), rates):
        prod = producer(bootstrap, client_id="shouwen-bench-direct")
        sent = [prod.send(topic, key=m.key, value=m.value, headers=m.headers) for m in messages]
        prod.flush(timeout=FLUSH_TIMEOUT)
    prod.close(timeout=10)
    failed = sum(1 for f in sent if not f.succeeded())
    if failed:
        raise RuntimeError(f"direct produce: {failed} message(s) not acknowledged")
    return rates[0]


def republish_throughput(url: str, bootstrap: str, events: int) -> Rate:
    """``shouwen republish --from 1`` (and recovery with no relay running): the whole
    history onto a new, empty topic, the cursor standing at the end."""
    settings = _settings(url, bootstrap, f"shouwen.bench.republish.{uuid.uuid4().hex[:8]}")
    ensure_topics(bootstrap, [settings.case_events_topic])
    rates: list[Rate] = []
    with _timed(events, rates):
        sent = republish(settings, 1, events)
    if sent != events:
        raise RuntimeError(f"republish sent {sent} of {events}")
    return rates[0]


def backfill_throughput(url: str, bootstrap: str, events: int) -> float:
    """A running relay finding its broker empty (the cursor at ``events``): the history
    back-filled behind new events, a chunk a cycle; events/s until the last is acked."""
    settings = _settings(url, bootstrap, f"shouwen.bench.backfill.{uuid.uuid4().hex[:8]}")
    ensure_topics(bootstrap, [settings.case_events_topic])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE relay_state SET published_seq = %s WHERE name = 'main'", (events,))
    registry, stop = CollectorRegistry(), threading.Event()
    thread = threading.Thread(target=run_relay, args=(settings,),
                              kwargs={"stop": stop, "registry": registry})
    started = time.perf_counter()
    thread.start()
    try:
        while (registry.get_sample_value("shouwen_relay_republished_total") or 0) < events:
            if time.perf_counter() - started > 600:
                raise RuntimeError("the back-fill did not finish in 10 minutes")
            time.sleep(0.02)
        return events / (time.perf_counter() - started)
    finally:
        stop.set()
        thread.join(60)


def publish_rates(
    url: str, bootstrap: str, events: int, rounds: int
) -> tuple[Rate, Rate, Settings]:
    """Best of ``rounds`` for the relay and for direct produce, taken in turns (a shared
    machine's passing load then hurts neither side more than the other). Also returns the
    settings of the relay's last topic, the one that holds everything published."""
    with psycopg.connect(url) as conn:
        messages = fetch(conn, 0, events)
    relay, direct = Rate(), Rate()
    relay_settings = _settings(url, bootstrap, "unused")
    for _ in range(rounds):
        suffix = uuid.uuid4().hex[:8]
        relay_settings = _settings(url, bootstrap, f"shouwen.bench.relay.{suffix}")
        relay = relay.best(relay_throughput(relay_settings, events))
        direct = direct.best(
            direct_throughput(bootstrap, f"shouwen.bench.direct.{suffix}", messages)
        )
    return relay, direct, relay_settings


# -- lag --------------------------------------------------------------------------------
def _paced(rate: float, seconds: float, start_at: float, offset: float) -> Iterator[int]:
    """Yield 0, 1, ... at ``rate`` per second for ``seconds`` from the epoch time
    ``start_at`` (every load process starts together), or from now if this process came up
    later: a late start must not turn into a burst. Small hiccups are caught up."""
    start, total = max(start_at, time.time()) + offset / rate, int(rate * seconds)
    for i in range(total):
        delay = start + i / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        yield i


_NEW_CASE = (
    "INSERT INTO events (event_id, stream_id, version, type, source, time, dataschema, actor,"
    " data, prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def _append_steadily(
    url: str, rate: float, seconds: float, start_at: float, worker: int, tag: str
) -> None:
    """One event per commit: the row EventStore.append writes for a new case, built and
    hashed before the clock. What is measured is the relay, not the writer's CPU (on a
    2-core machine the full append path at 1,000/s leaves the relay no CPU)."""
    rows = []
    for i in range(int(rate * seconds)):
        event = received(f"{tag}-{worker}-{i}").with_sequence(1)
        rows.append((
            event.id, event.subject, 1, event.type, event.source, event.time, event.dataschema,
            event.actor, Jsonb(event.data), GENESIS, chain_hash(GENESIS, event),
        ))
    with psycopg.connect(url, autocommit=True) as conn:
        for i in _paced(rate, seconds, start_at, worker / APPENDERS):
            conn.execute(_NEW_CASE, rows[i])


def _produce_steadily(
    bootstrap: str, topic: str, rate: float, seconds: float, start_at: float
) -> None:
    """The baseline: the same kind of message straight to the broker; ce_time = send time."""
    prod = producer(bootstrap, client_id="shouwen-bench-direct")
    events = [received(f"D-{i}").with_sequence(1) for i in range(int(rate * seconds))]
    for i in _paced(rate, seconds, start_at, 0):
        event = events[i].model_copy(update={"time": datetime.now(UTC)})
        key, value, headers = to_kafka(event)
        prod.send(topic, key=key, value=value, headers=headers)
    prod.flush(timeout=FLUSH_TIMEOUT)
    prod.close(timeout=10)


def _reader(bootstrap: str, topic: str) -> KafkaConsumer:
    """A consumer at the current end of every partition, before any load. Its fetches wait
    at most 10 ms (default 500): Tansu answers a waiting fetch when the wait is over, not when
    data arrives, so the default would add up to half a second to every figure."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="latest",
        fetch_max_wait_ms=10, client_id="shouwen-bench-reader",
    )
    tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(tps)
    consumer.seek_to_end(*tps)
    for tp in tps:
        consumer.position(tp)
    return consumer


def _arrivals(start_load: Any, bootstrap: str, topic: str, prefix: bytes, expected: int) -> dict:
    """Start the load (processes) and read the topic meanwhile: {ce_id: (arrival, ce_time)}
    of messages keyed ``prefix``..., until ``expected`` came or the load is over and
    nothing came for 5 s. Headers are read raw: decoding costs would count as lag."""
    consumer = _reader(bootstrap, topic)
    procs = start_load()
    got: dict[str, tuple[float, str]] = {}
    quiet_since = time.monotonic()
    try:
        give_up = time.monotonic() + 300
        while len(got) < expected and time.monotonic() < give_up:
            polled = consumer.poll(timeout_ms=100)
            now = time.time()
            for records in polled.values():
                quiet_since = time.monotonic()
                for r in records:
                    if r.key.startswith(prefix):
                        h = {k: v for k, v in r.headers if k in ("ce_id", "ce_time")}
                        got[h["ce_id"].decode()] = (now, h["ce_time"].decode())
            done = not any(p.is_alive() for p in procs)
            if done and time.monotonic() - quiet_since > 5:
                break
    finally:
        consumer.close()
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
                raise RuntimeError("a load process did not finish within a minute")
    return got


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def _recorded_lags(url: str, arrivals: dict, tag: str) -> tuple[list[float], float]:
    """Arrival minus events.recorded_at (ms) per event, and the append rate achieved."""
    with psycopg.connect(url) as conn:
        recorded: dict[str, float] = dict(conn.execute(
            "SELECT event_id::text, extract(epoch FROM recorded_at)::float8 FROM events"
            " WHERE stream_id LIKE %s", (f"{tag}-%",),
        ).fetchall())
    lags = [(arrivals[i][0] - at) * 1000 for i, at in recorded.items() if i in arrivals]
    span = max(recorded.values()) - min(recorded.values()) if recorded else 0.0
    return lags, len(recorded) / span if span else 0.0


def relay_lag(
    settings: Settings, rate: float, seconds: float, tag: str
) -> tuple[list[float], float]:
    """Lags (ms) of events appended at ``rate`` to streams ``tag``-..., and the rate reached."""
    url, bootstrap = str(settings.database_url), str(settings.kafka_bootstrap_servers)
    env = {**os.environ, "DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "SHOUWEN_CASE_EVENTS_TOPIC": settings.case_events_topic,
           "SHOUWEN_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
           "SHOUWEN_RELAY_METRICS_PORT": "0", "SHOUWEN_LOG_LEVEL": "WARNING"}
    relay = subprocess.Popen([sys.executable, "-m", "services.relay"], env=env)
    ctx = mp.get_context("spawn")
    try:
        time.sleep(2.0)  # the relay's start (imports, lock, producer)

        def load() -> list:
            start_at = time.time() + STARTUP
            procs = [
                ctx.Process(
                    target=_append_steadily,
                    args=(url, rate / APPENDERS, seconds, start_at, w, tag),
                )
                for w in range(APPENDERS)
            ]
            for p in procs:
                p.start()
            return procs

        expected = int(rate * seconds)
        prefix = f"{tag}-".encode()
        arrivals = _arrivals(load, bootstrap, settings.case_events_topic, prefix, expected)
    finally:
        relay.terminate()
        try:
            relay.wait(30)
        except subprocess.TimeoutExpired:
            relay.kill()
            raise
    return _recorded_lags(url, arrivals, tag)


def direct_lag(bootstrap: str, topic: str, rate: float, seconds: float) -> list[float]:
    ensure_topics(bootstrap, [topic])
    ctx = mp.get_context("spawn")

    def load() -> list:
        p = ctx.Process(
            target=_produce_steadily, args=(bootstrap, topic, rate, seconds, time.time() + STARTUP)
        )
        p.start()
        return [p]

    arrivals = _arrivals(load, bootstrap, topic, b"D-", int(rate * seconds))
    return [(at - datetime.fromisoformat(sent).timestamp()) * 1000
            for at, sent in arrivals.values()]


# -- the figures ------------------------------------------------------------------------
def run(pg_url: str, bootstrap: str, quick: bool = False) -> list[dict[str, Any]]:
    """``pg_url``: a fresh, migrated database. Returns the figures (see bench.common)."""
    events, seconds, rounds = (2_000, 2.0, 1) if quick else (EVENTS, SECONDS, ROUNDS)
    store(pg_url, events)
    sequenced = sequencer_throughput(pg_url, events)
    relay_rate, direct_rate, settings = publish_rates(pg_url, bootstrap, events, rounds)
    suffix = uuid.uuid4().hex[:8]
    base = direct_lag(bootstrap, f"shouwen.bench.direct-lag.{suffix}", RATE, seconds)
    rows = [
        figure(f"sequencer: {events:,} stored events into commit order", sequenced, "events/s"),
        figure(f"relay publish {events:,} sequenced events (best of {rounds})", relay_rate.wall,
               "events/s", baseline=direct_rate.wall, goal_ratio=0.70),
        figure("relay publish, per CPU-second of the process", relay_rate.cpu,
               "events/cpu-s", baseline=direct_rate.cpu),
    ]
    republished = republish_throughput(pg_url, bootstrap, events)
    backfilled = backfill_throughput(pg_url, bootstrap, events)
    rows += [
        figure(f"re-publish {events:,} events onto an empty topic (shouwen republish)",
               republished.wall, "events/s", baseline=direct_rate.wall),
        figure(f"back-fill {events:,} events behind new ones (running relay, broker emptied)",
               backfilled, "events/s", baseline=direct_rate.wall),
    ]
    for rate in (RATE, LIGHT_RATE):
        lags, achieved = relay_lag(settings, rate, seconds, tag=f"L{rate}")
        rows += _lag_rows(lags, base, rate, achieved, int(rate * seconds), goal=rate == RATE)
    return rows


def _lag_rows(
    lags: list[float], base: list[float], rate: int, achieved: float, expected: int, goal: bool
) -> list[dict[str, Any]]:
    rows = []
    for p in (50, 99):
        value, baseline = _pct(lags, p), _pct(base, p)
        checked = goal and p == 99
        rows.append({
            "figure": f"relay lag p{p} at {rate:,}/s ({len(lags):,} events, {achieved:,.0f}/s)",
            "value": value, "unit": "ms", "baseline": baseline,
            "ratio": value / baseline if baseline else None,
            "goal": f"< {LAG_GOAL_MS:.0f} ms" if checked else None,
            "passed": (value < LAG_GOAL_MS and len(lags) == expected and achieved >= 0.9 * rate)
            if checked else None,
        })
    return rows


@contextmanager
def _parts() -> Iterator[tuple[str, str]]:
    from bench.common import fresh_database, postgres
    from services.common import embedded

    with postgres() as admin_url, fresh_database(admin_url) as url:
        servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if servers:
            yield url, servers
            return
        port = embedded.free_port()
        broker = embedded.start_broker(port)
        try:
            yield url, f"127.0.0.1:{port}"
        finally:
            broker.terminate()
            broker.wait(10)


def main() -> int:
    from bench.common import print_table

    with _parts() as (url, bootstrap):
        rows = run(url, bootstrap, quick="--quick" in sys.argv)
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
