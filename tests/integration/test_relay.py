"""The relay against a real PostgreSQL and a real broker: publish, metrics, republish,
hot standby, and a dropped database connection."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from uuid import UUID, uuid4

import psycopg
from prometheus_client import CollectorRegistry

from events import new_event
from events.case import CaseReceived, Channel
from events.kafka import from_kafka, to_kafka
from services.common.bus import assigned_consumer
from services.common.eventstore import EventStore
from services.common.settings import Settings
from services.common.topics import topic_ends
from services.relay.metrics import relay_metrics
from services.relay.publish import cursor, fetch
from services.relay.relay import observe_lag, republish, run
from services.relay.sequencer import sequence_pass
from tests.waits import logged

SHOUWEN = str(Path(sys.executable).parent / "shouwen")


def received(case_id: str):
    payload = CaseReceived(
        channel=Channel.phone, receipt_number=f"R-{case_id}", unit_id="U1", matter="补办社保卡",
        inquirer_name="张三", inquirer_phone="13800000000", first_responder_id="S1",
        first_responder_name="李四", first_responder_duty="窗口受理",
        first_responder_contact="0935-1234567",
    )
    return new_event(payload, subject=case_id, actor="staff:S1")


def store_events(url: str, streams: int, per_stream: int) -> list[UUID]:
    store = EventStore(url)
    ids: list[UUID] = []
    for s in range(streams):
        events = [received(f"C-{s}") for _ in range(per_stream)]
        store.append(f"C-{s}", events, expected_version=0)
        ids += [e.id for e in events]
    return ids


def read_topic(bootstrap: str, topic: str, at_least: int, timeout: float = 20.0) -> list:
    """Every message on ``topic`` as (partition, offset, CloudEvent), once ``at_least`` are
    there (topic_ends, not end_offsets: Tansu under-reports those)."""
    deadline = time.monotonic() + timeout
    while sum((topic_ends(bootstrap, topic) or {}).values()) < at_least:
        assert time.monotonic() < deadline, f"fewer than {at_least} messages on {topic}"
        time.sleep(0.1)
    ends = topic_ends(bootstrap, topic) or {}
    consumer = assigned_consumer(bootstrap, topic)
    got: list = []
    try:
        while any(consumer.position(tp) < ends[tp.partition] for tp in consumer.assignment()):
            assert time.monotonic() < deadline, f"read {len(got)} of {sum(ends.values())}"
            for tp, records in consumer.poll(timeout_ms=200).items():
                got += [(tp.partition, r.offset, from_kafka(r.value, r.headers)) for r in records]
        return got
    finally:
        consumer.close()


def published_seq(url: str) -> int:
    with psycopg.connect(url) as c:
        row = c.execute("SELECT published_seq FROM relay_state WHERE name = 'main'").fetchone()
        return int(row[0]) if row else 0


def quiet(settings: Settings) -> Settings:
    return settings.model_copy(update={"relay_metrics_port": 0})


def test_once_publishes_every_event_keyed_by_case_in_stream_order(settings, bootstrap):
    ids = store_events(str(settings.database_url), streams=5, per_stream=4)
    run(quiet(settings), once=True)
    messages = read_topic(bootstrap, settings.case_events_topic, len(ids))
    assert sorted(e.id for _, _, e in messages) == sorted(ids)
    for case in {e.subject for _, _, e in messages}:
        mine = sorted((off, e) for _, off, e in messages if e.subject == case)
        assert len({p for p, _, e in messages if e.subject == case}) == 1
        assert [e.sequence for _, e in mine] == [1, 2, 3, 4]
    assert published_seq(str(settings.database_url)) == len(ids)


def test_metrics_after_publishing_show_no_lag_and_count_every_event(settings):
    ids = store_events(str(settings.database_url), streams=3, per_stream=5)
    registry = CollectorRegistry()
    run(quiet(settings), once=True, registry=registry)
    assert registry.get_sample_value("shouwen_relay_lag_events") == 0
    assert registry.get_sample_value("shouwen_relay_lag_seconds") == 0
    assert registry.get_sample_value("shouwen_relay_published_total") == len(ids)
    assert registry.get_sample_value("shouwen_relay_publish_latency_seconds_count") == len(ids)


def test_lag_counts_unsequenced_and_unpublished_events_until_published(settings):
    url = str(settings.database_url)
    store_events(url, streams=2, per_stream=3)
    registry = CollectorRegistry()
    metrics = relay_metrics(registry)
    with psycopg.connect(url, autocommit=True) as conn:
        cursor(conn)
        observe_lag(conn, metrics)
        assert registry.get_sample_value("shouwen_relay_lag_events") == 6  # none sequenced
        assert (registry.get_sample_value("shouwen_relay_lag_seconds") or 0) > 0
        sequence_pass(conn)
        observe_lag(conn, metrics)
        assert registry.get_sample_value("shouwen_relay_lag_events") == 6  # not published
        run(quiet(settings), once=True, registry=CollectorRegistry())
        observe_lag(conn, metrics)
        assert registry.get_sample_value("shouwen_relay_lag_events") == 0
        assert registry.get_sample_value("shouwen_relay_lag_seconds") == 0


def test_republish_sends_the_range_again_without_moving_the_cursor(settings, bootstrap):
    url = str(settings.database_url)
    store_events(url, streams=2, per_stream=5)
    run(quiet(settings), once=True)
    with psycopg.connect(url) as c:
        wanted = [r[0] for r in c.execute(
            "SELECT event_id FROM commit_log WHERE seq BETWEEN 3 AND 7 ORDER BY seq")]
    assert republish(settings, 3, 7) == 5
    messages = read_topic(bootstrap, settings.case_events_topic, 15)
    assert len(messages) == 15
    counts = {i: sum(1 for _, _, e in messages if e.id == i) for i in {e.id for *_, e in messages}}
    assert sorted(i for i, n in counts.items() if n == 2) == sorted(wanted)
    assert published_seq(url) == 10
    assert republish(settings, 9) == 2  # to the cursor by default
    assert republish(settings, 9, 500) == 2  # never beyond it: the relay publishes the rest


def test_cli_republish_from_zero_is_refused_with_status_2(env_for):
    done = subprocess.run(
        [SHOUWEN, "republish", "--from", "0"], env=env_for, capture_output=True, text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--from must be >= 1" in done.stderr


def test_cli_republish_reports_the_count(settings, env_for):
    store_events(str(settings.database_url), streams=1, per_stream=4)
    run(quiet(settings), once=True)
    done = subprocess.run(
        [SHOUWEN, "republish", "--from", "2", "--to", "3"], env=env_for, capture_output=True,
        text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "re-published 2 event(s)" in done.stdout


def wait_until(predicate, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def start_relay(settings: Settings) -> tuple[threading.Thread, threading.Event, CollectorRegistry]:
    stop, registry = threading.Event(), CollectorRegistry()
    thread = threading.Thread(
        target=run, args=(quiet(settings),), kwargs={"stop": stop, "registry": registry}
    )
    thread.start()
    return thread, stop, registry


def test_second_relay_waits_as_hot_standby_and_takes_over(settings, caplog):
    caplog.set_level(logging.INFO, logger="services.relay")
    url = str(settings.database_url)
    first, stop_first, reg_first = start_relay(settings)
    wait_until(lambda: reg_first.get_sample_value("shouwen_relay_active") == 1, what="first")
    second, stop_second, reg_second = start_relay(settings)
    try:
        store_events(url, streams=3, per_stream=2)
        wait_until(lambda: published_seq(url) == 6, what="first relay to publish")
        wait_until(logged(caplog, "hot standby"), what="the second relay to stand by")
        assert reg_second.get_sample_value("shouwen_relay_active") == 0
        assert reg_second.get_sample_value("shouwen_relay_published_total") == 0
        stop_first.set()
        first.join(10)
        EventStore(url).append("C-0", [received("C-0")], expected_version=2)
        wait_until(lambda: published_seq(url) == 7, what="the standby to take over")
        assert reg_second.get_sample_value("shouwen_relay_active") == 1
        assert reg_second.get_sample_value("shouwen_relay_published_total") == 1
    finally:
        stop_first.set()
        stop_second.set()
        first.join(10)
        second.join(10)
    assert reg_first.get_sample_value("shouwen_relay_published_total") == 6


def test_relay_survives_losing_its_database_connection(settings, bootstrap):
    url = str(settings.database_url)
    relay, stop, registry = start_relay(settings)
    try:
        ids = store_events(url, streams=2, per_stream=2)
        wait_until(lambda: published_seq(url) == 4, what="first publish")
        with psycopg.connect(url, autocommit=True) as c:
            killed = c.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'shouwen-relay' AND datname = current_database()"
            ).fetchall()
        assert killed
        more = [received("C-9") for _ in range(3)]
        EventStore(url).append("C-9", more, expected_version=0)
        wait_until(lambda: published_seq(url) == 7, what="publish after reconnect")
        assert (registry.get_sample_value("shouwen_relay_errors_total", {"kind": "db"}) or 0) >= 1
    finally:
        stop.set()
        relay.join(10)
    messages = read_topic(bootstrap, settings.case_events_topic, 7)
    assert {e.id for *_, e in messages} == set(ids) | {e.id for e in more}


def test_relay_process_serves_metrics_and_exits_0_on_sigterm(settings, env_for):
    import urllib.request

    from services.common.embedded import free_port

    url = str(settings.database_url)
    port = free_port()
    env = {**env_for, "SHOUWEN_RELAY_METRICS_PORT": str(port)}
    proc = subprocess.Popen([SHOUWEN, "relay"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        store_events(url, streams=2, per_stream=3)
        wait_until(lambda: published_seq(url) == 6, what="the relay process to publish")
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        assert b"shouwen_relay_published_total 6.0" in body
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "relay stopped at published_seq 6" in err


def test_python_m_services_relay_once_publishes_and_exits_0(settings, env_for):
    store_events(str(settings.database_url), streams=2, per_stream=2)
    env = {**env_for, "SHOUWEN_RELAY_METRICS_PORT": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "services.relay", "--once"], env=env, capture_output=True,
        text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert published_seq(str(settings.database_url)) == 4


def test_relay_without_a_database_url_exits_2_saying_so(env_for):
    env = {k: v for k, v in env_for.items() if k not in ("DATABASE_URL", "SHOUWEN_DATABASE_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "services.relay", "--once"], env=env, capture_output=True,
        text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "DATABASE_URL is not set" in done.stderr


def test_messages_are_the_cloudevents_binding_of_the_stored_events(settings):
    url = str(settings.database_url)
    first = received("C-1")
    reply = received("C-1").model_copy(
        update={"id": uuid4(), "causationid": first.id, "correlationid": first.id}
    )
    EventStore(url).append("C-1", [first, reply], expected_version=0)
    with psycopg.connect(url, autocommit=True) as conn:
        sequence_pass(conn)
        sent = fetch(conn, 0, 10)
    stored = EventStore(url).read_all()
    assert [(m.key, m.value, m.headers) for m in sent] == [to_kafka(r.event) for r in stored]
    assert from_kafka(sent[1].value, sent[1].headers) == stored[1].event
