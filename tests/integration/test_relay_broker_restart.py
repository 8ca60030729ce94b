"""The development broker (Tansu, memory only) restarts empty: the relay notices and
re-publishes the store from seq 1, whether it was running through the outage or not; a
running relay publishes new events first and back-fills the history behind them."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from services.common import embedded
from services.common.eventstore import EventStore
from services.common.settings import Settings
from services.relay.relay import broker_is_behind, recover_after_broker_restart, run
from tests.integration.test_relay import (
    published_seq,
    read_topic,
    received,
    store_events,
    wait_until,
)
from tests.waits import Lines

SHOUWEN = str(Path(sys.executable).parent / "shouwen")


class Broker:
    """A broker of this test's own, on a fixed port, that can be restarted (empty)."""

    def __init__(self) -> None:
        self.port = embedded.free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = embedded.start_broker(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def broker() -> Iterator[Broker]:
    b = Broker()
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def on_own_broker(settings: Settings, broker: Broker) -> Settings:
    return settings.model_copy(
        update={"kafka_bootstrap_servers": broker.bootstrap, "relay_metrics_port": 0}
    )


def test_recover_after_broker_restart_republishes_from_seq_1(on_own_broker, broker):
    url = str(on_own_broker.database_url)
    ids = store_events(url, streams=3, per_stream=4)
    assert not broker_is_behind(on_own_broker)  # nothing published yet: nothing to be behind
    run(on_own_broker, once=True)
    assert not broker_is_behind(on_own_broker)
    assert recover_after_broker_restart(on_own_broker) == 0  # not behind: nothing sent

    topic = on_own_broker.case_events_topic
    with psycopg.connect(url, autocommit=True) as conn:  # a consumer's offset in the old log
        conn.execute("INSERT INTO consumer_offsets (consumer, topic, partition, next_offset)"
                     " VALUES ('some-consumer', %s, 0, 9)", (topic,))
    broker.stop()
    broker.start()
    assert broker_is_behind(on_own_broker)  # topic gone, published_seq = 12
    assert recover_after_broker_restart(on_own_broker) == 12
    assert not broker_is_behind(on_own_broker)
    with psycopg.connect(url) as conn:  # forgotten: it would skip events of the new log
        left = conn.execute("SELECT count(*) FROM consumer_offsets WHERE topic = %s", (topic,))
        assert left.fetchone() == (0,)
    messages = read_topic(broker.bootstrap, on_own_broker.case_events_topic, 12)
    assert sorted(e.id for *_, e in messages) == sorted(ids)
    assert published_seq(url) == 12


def test_running_relay_rides_out_a_broker_restart_and_refills_it(on_own_broker, broker):
    url = str(on_own_broker.database_url)
    stop, registry = threading.Event(), CollectorRegistry()
    relay = threading.Thread(
        target=run, args=(on_own_broker,), kwargs={"stop": stop, "registry": registry}
    )
    relay.start()
    try:
        ids = store_events(url, streams=2, per_stream=3)
        wait_until(lambda: published_seq(url) == 6, what="first publish")
        broker.stop()
        late = [received("C-7") for _ in range(2)]
        EventStore(url).append("C-7", late, expected_version=0)
        wait_until(lambda: (registry.get_sample_value(  # the relay tried, failed, backs off
            "shouwen_relay_errors_total", {"kind": "broker"}) or 0) >= 1, what="a broker error")
        assert published_seq(url) == 6
        broker.start()
        wait_until(lambda: published_seq(url) == 8, timeout=60, what="publish after restart")
        wait_until(lambda: registry.get_sample_value("shouwen_relay_republished_total") == 6,
                   timeout=60, what="the history back-filled")
    finally:
        stop.set()
        relay.join(30)
    assert (registry.get_sample_value("shouwen_relay_errors_total", {"kind": "broker"}) or 0) >= 1
    assert registry.get_sample_value("shouwen_relay_republished_total") == 6
    messages = read_topic(broker.bootstrap, on_own_broker.case_events_topic, 8)
    assert sorted(e.id for *_, e in messages) == sorted(ids + [e.id for e in late])


def test_relay_with_no_broker_retries_and_still_stops_at_once_on_sigterm(
    on_own_broker, broker, env_for
):
    broker.stop()
    env = {**env_for, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
           "SHOUWEN_RELAY_METRICS_PORT": "0"}
    relay = subprocess.Popen([SHOUWEN, "relay"], env=env, stderr=subprocess.PIPE, text=True)
    assert relay.stderr is not None
    err = Lines(relay.stderr)
    err.wait_for("broker failure, retrying", timeout=30)
    assert relay.poll() is None  # no crash loop: still running, retrying
    started = time.monotonic()
    relay.send_signal(signal.SIGTERM)
    assert relay.wait(20) == 0
    assert time.monotonic() - started < 5, err.text(join=5)



def test_new_events_go_first_and_the_history_is_back_filled_behind_them(on_own_broker, broker):
    url = str(on_own_broker.database_url)
    history = store_events(url, streams=6, per_stream=5)
    run(on_own_broker, once=True)
    broker.stop()
    broker.start()  # empty
    new = received("C-new")
    EventStore(url).append("C-new", [new], expected_version=0)
    stop, registry = threading.Event(), CollectorRegistry()
    relay = threading.Thread(target=run, args=(on_own_broker,),
                             kwargs={"stop": stop, "registry": registry})
    relay.start()
    try:
        wait_until(lambda: registry.get_sample_value("shouwen_relay_republished_total") == 30,
                   timeout=60, what="the history back-filled")
    finally:
        stop.set()
        relay.join(30)
    messages = read_topic(broker.bootstrap, on_own_broker.case_events_topic, 31)
    assert sorted(e.id for *_, e in messages) == sorted([*history, new.id])  # none lost
    (partition, offset) = next((p, o) for p, o, e in messages if e.id == new.id)
    older = [o for p, o, e in messages if p == partition and e.id != new.id]
    assert offset == 0 and older and min(older) > offset  # before the history it shares
    assert published_seq(url) == 31
