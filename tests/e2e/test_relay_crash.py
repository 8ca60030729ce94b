"""Kill -9 the relay while it publishes 10,000 events, restart it: every event reaches the
topic, and an inbox consumer ends with each exactly once (the duplicates a crash between the
broker's acks and the cursor update leaves on the topic are absorbed)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from events import new_event
from events.case import CaseReceived, Channel
from events.kafka import from_kafka
from services.common import inbox
from services.common.bus import assigned_consumer
from services.common.eventstore import EventStore
from services.common.topics import topic_ends
from services.relay.publish import topic_end_total

TOTAL = 10_000
PER_STREAM = 10
SHOUWEN = str(Path(sys.executable).parent / "shouwen")


def received(case_id: str):
    payload = CaseReceived(
        channel=Channel.window, receipt_number="R-1", unit_id="U1", matter="开具证明",
        inquirer_name="赵六", first_responder_id="S1", first_responder_name="李四",
        first_responder_duty="窗口受理", first_responder_contact="0935-1234567",
    )
    return new_event(payload, subject=case_id, actor="staff:S1")


def store_10k(url: str) -> set:
    store, ids = EventStore(url), set()
    with psycopg.connect(url, autocommit=True) as conn:
        for s in range(TOTAL // PER_STREAM):
            events = [received(f"C-{s}") for _ in range(PER_STREAM)]
            store.append(f"C-{s}", events, expected_version=0, conn=conn)
            ids |= {e.id for e in events}
    return ids


def published_seq(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT published_seq FROM relay_state WHERE name = 'main'").fetchone()
    return int(row[0]) if row else 0


def on_topic(bootstrap: str, topic: str) -> int:
    return topic_end_total(bootstrap, topic) or 0


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def consume_with_inbox(url: str, bootstrap: str, topic: str) -> int:
    """Read the whole topic; per poll, one transaction records each event in the inbox and,
    only for events not handled before, writes the effect. Returns messages read."""
    ends = topic_ends(bootstrap, topic) or {}  # not end_offsets: Tansu under-reports those
    consumer, read = assigned_consumer(bootstrap, topic), 0
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            while any(consumer.position(tp) < ends[tp.partition] for tp in consumer.assignment()):
                polled = consumer.poll(timeout_ms=500, max_records=2000)
                with conn.transaction():
                    for records in polled.values():
                        for r in records:
                            event = from_kafka(r.value, r.headers)
                            read += 1
                            if inbox.record(conn, "crash-test", event.id):
                                conn.execute(
                                    "INSERT INTO crash_effects VALUES (%s, %s)",
                                    (event.id, event.subject),
                                )
        return read
    finally:
        consumer.close()


@pytest.mark.slow
def test_kill_9_mid_publish_then_restart_loses_nothing(settings, env_for, bootstrap):
    url, topic = str(settings.database_url), settings.case_events_topic
    started = time.monotonic()
    ids = store_10k(url)
    stored_at = time.monotonic()
    env = {**env_for, "SHOUWEN_RELAY_METRICS_PORT": "0", "SHOUWEN_RELAY_BATCH_SIZE": "500"}
    with psycopg.connect(url, autocommit=True) as conn:
        relay = subprocess.Popen([SHOUWEN, "relay"], env=env, stderr=subprocess.DEVNULL)
        try:
            # kill when the topic is ahead of the cursor: a batch is on the broker (or on its
            # way), its cursor update is not done: the restart must send it again
            wait_for(lambda: on_topic(bootstrap, topic) > published_seq(conn), 30, "publishing")
        finally:
            relay.send_signal(signal.SIGKILL)
            relay.wait(10)
        at_kill = on_topic(bootstrap, topic)
        cursor_at_kill = published_seq(conn)
        assert 0 < at_kill < TOTAL, f"{at_kill} messages: not killed mid-publish"

        relay = subprocess.Popen([SHOUWEN, "relay"], env=env, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: published_seq(conn) == TOTAL, 40, "the restarted relay")
        finally:
            relay.send_signal(signal.SIGTERM)
            _, err = relay.communicate(timeout=20)
        assert relay.returncode == 0, err.decode()
        assert f"from seq {cursor_at_kill}" in err.decode()  # resumed, did not start over
        conn.execute("CREATE TABLE crash_effects (event_id uuid NOT NULL, case_id text NOT NULL)")

    relayed_at = time.monotonic()
    read = consume_with_inbox(url, bootstrap, topic)
    with psycopg.connect(url) as conn:
        effects = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM crash_effects")
        rows, distinct = effects.fetchone()  # type: ignore[misc]
        stored = {r[0] for r in conn.execute("SELECT event_id FROM crash_effects")}
    print(
        f"messages at kill {at_kill}, cursor at kill {cursor_at_kill}, read {read};"
        f" store {stored_at - started:.1f}s, relay {relayed_at - stored_at:.1f}s,"
        f" consume {time.monotonic() - relayed_at:.1f}s"
    )
    assert stored == ids  # all 10,000 event ids reached the topic
    assert rows == distinct == TOTAL  # each applied exactly once
    assert read >= TOTAL  # duplicates (if any) were absorbed by the inbox
