"""The relay under concurrent writers: nothing lost, nothing doubled, every case in order.

Eight writers append at once to shared and to their own streams while `shouwen relay` runs:
    fast    append one event at a time, retrying on WrongExpectedVersion
    slow    append inside a transaction held open for a second (rows appear late, out of
            position order — the trap a "position > last seen" poller falls into)
    early   take a txid first, wait until another writer commits the next version of a shared
            stream, then append after it: a later version with an earlier txid (the case
            sequencer.order_for_commit exists for)
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from uuid import UUID

import psycopg

from events import CloudEvent, new_event
from events.case import CaseReceived, Channel
from events.kafka import from_kafka
from services.common.bus import assigned_consumer
from services.common.eventstore import EventStore, WrongExpectedVersion
from services.common.topics import topic_ends

SHOUWEN = str(Path(sys.executable).parent / "shouwen")
SHARED = ["S-0", "S-1", "S-2"]
RUN_FOR = 8.0


def received(case_id: str):
    payload = CaseReceived(
        channel=Channel.hotline, receipt_number="R-1", unit_id="U1", matter="噪音投诉",
        inquirer_name="王五", first_responder_id="S1", first_responder_name="李四",
        first_responder_duty="热线接听", first_responder_contact="12345",
    )
    return new_event(payload, subject=case_id, actor="staff:S1")


class Writers:
    def __init__(self, url: str) -> None:
        self.url, self.store = url, EventStore(url)
        self.until = time.monotonic() + RUN_FOR
        self.errors: list[BaseException] = []
        self.early_wins = 0

    def _guard(self, fn, *args) -> None:
        try:
            fn(*args)
        except BaseException as exc:  # surfaced by the test, not swallowed
            self.errors.append(exc)

    def start(self) -> list[threading.Thread]:
        jobs = [(self.fast, n) for n in range(5)] + [(self.slow, n) for n in (5, 6)]
        jobs.append((self.early, 7))
        threads = [threading.Thread(target=self._guard, args=job) for job in jobs]
        for t in threads:
            t.start()
        return threads

    def _append(self, conn: psycopg.Connection, stream: str) -> None:
        version = self.store.stream_version(stream, conn=conn)
        self.store.append(stream, [received(stream)], expected_version=version, conn=conn)

    def fast(self, n: int) -> None:
        rnd = random.Random(n)
        with psycopg.connect(self.url, autocommit=True) as conn:
            while time.monotonic() < self.until:
                shared = rnd.random() < 0.15
                stream = rnd.choice(SHARED) if shared else f"P-{n}-{rnd.randrange(10)}"
                try:
                    self._append(conn, stream)
                except WrongExpectedVersion:
                    continue

    def slow(self, n: int) -> None:
        rnd = random.Random(n)
        with psycopg.connect(self.url, autocommit=True) as conn:
            while time.monotonic() < self.until:
                stream = rnd.choice(SHARED + [f"P-{n}"])
                try:
                    with conn.transaction():
                        self._append(conn, stream)
                        self._append(conn, f"P-{n}")
                        time.sleep(1.0)
                except WrongExpectedVersion:
                    continue

    def early(self, n: int) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while time.monotonic() < self.until:
                stream = SHARED[self.early_wins % len(SHARED)]
                try:
                    with conn.transaction():
                        conn.execute("SELECT pg_current_xact_id()")
                        seen = self.store.stream_version(stream, conn=conn)
                        deadline = time.monotonic() + 2
                        while self.store.stream_version(stream, conn=conn) == seen:
                            if time.monotonic() > deadline:
                                break
                            time.sleep(0.01)
                        self._append(conn, stream)
                    self.early_wins += 1
                except WrongExpectedVersion:
                    continue


def read_everything(
    bootstrap: str, topic: str, expected: int
) -> list[tuple[int, int, CloudEvent]]:
    ends = topic_ends(bootstrap, topic) or {}  # not end_offsets: Tansu under-reports those
    consumer = assigned_consumer(bootstrap, topic)
    got: list = []
    deadline = time.monotonic() + 60
    try:
        while any(consumer.position(tp) < ends[tp.partition] for tp in consumer.assignment()):
            assert time.monotonic() < deadline, f"read {len(got)} of {expected}"
            for tp, records in consumer.poll(timeout_ms=200).items():
                got += [(tp.partition, r.offset, from_kafka(r.value, r.headers)) for r in records]
        return got
    finally:
        consumer.close()


def wait_published(url: str, total: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as c:
        while True:
            row = c.execute("SELECT published_seq FROM relay_state WHERE name='main'").fetchone()
            if row and row[0] == total:
                return
            assert time.monotonic() < deadline, f"published {row} of {total}"
            time.sleep(0.1)


def test_concurrent_slow_and_early_writers_lose_nothing_and_keep_case_order(
    settings, env_for, bootstrap
):
    url = str(settings.database_url)
    env = {**env_for, "SHOUWEN_RELAY_METRICS_PORT": "0"}
    relay = subprocess.Popen([SHOUWEN, "relay"], env=env, stderr=subprocess.PIPE)
    try:
        writers = Writers(url)
        for t in writers.start():
            t.join()
        assert not writers.errors, writers.errors
        with psycopg.connect(url) as c:
            stored: dict[UUID, str] = dict(
                c.execute("SELECT event_id, stream_id FROM events").fetchall()
            )
            inversions = c.execute(
                "SELECT count(*) FROM events a JOIN events b ON a.stream_id = b.stream_id"
                " AND b.version = a.version + 1 WHERE b.txid < a.txid"
            ).fetchone()[0]  # type: ignore[index]
        wait_published(url, len(stored))
    finally:
        relay.send_signal(signal.SIGTERM)
        _, err = relay.communicate(timeout=30)
    assert relay.returncode == 0, err.decode()
    assert writers.early_wins > 0 and inversions > 0  # the early-txid case really happened

    messages = read_everything(bootstrap, settings.case_events_topic, len(stored))
    ids = [e.id for *_, e in messages]
    assert len(ids) == len(set(ids)) == len(stored)  # every event exactly once
    assert set(ids) == set(stored)
    by_stream: dict[str, list[tuple[int, int, int | None]]] = defaultdict(list)
    for partition, offset, event in messages:
        by_stream[event.subject].append((partition, offset, event.sequence))
    for stream, rows in by_stream.items():
        assert len({p for p, _, _ in rows}) == 1, f"{stream} spread over partitions"
        versions = [v for _, _, v in sorted(rows)]
        assert versions == list(range(1, len(versions) + 1)), f"{stream}: {versions}"
    with psycopg.connect(url) as c:
        seqs = [r[0] for r in c.execute("SELECT seq FROM commit_log ORDER BY seq")]
    assert seqs == list(range(1, len(stored) + 1))
