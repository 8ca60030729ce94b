"""The faust-streaming base: a real worker process against the real broker and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from events.kafka import to_kafka
from services.common.deadletter import header
from tests.integration.faust_app_fixture import (
    FAILING_MATTER,
    RawMessage,
    allow_connections,
    dead_letters,
    effects,
    inbox_ids,
    produce,
    received,
    stored,
)
from tests.integration.faust_worker import Worker, wait_for, worker_env

NAME = "test-notifier"


@pytest.fixture
def start_worker(settings, env_for, tmp_path) -> Iterator[Callable[[], Worker]]:
    env = worker_env(str(settings.database_url), env_for, NAME, tmp_path)
    started: list[Worker] = []

    def start() -> Worker:
        started.append(Worker(env, tmp_path / f"worker-{len(started)}.log"))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


def test_faust_agent_handles_once_dead_letters_bad_messages_and_goes_on(settings, start_worker):
    first = received("C-1")
    garbage: RawMessage = (b"C-1", b"\xff\x00 not an event", [])
    failing, last = received("C-1", matter=FAILING_MATTER), received("C-1", matter="户籍证明")
    # One key, so one partition, in this order: good, the same again, two bad ones, good.
    produce(settings, first, first, garbage, failing, last)
    url = str(settings.database_url)

    worker = start_worker()
    wait_for(lambda: last.id in inbox_ids(url, NAME), 40, "the last event to be handled", worker)

    assert effects(url) == sorted([(first.id, "C-1", "补办社保卡"), (last.id, "C-1", "户籍证明")])
    assert inbox_ids(url, NAME) == {first.id, last.id}
    letters = dead_letters(settings, 2)
    assert [r.value for r in letters] == [garbage[1], to_kafka(failing)[1]]
    assert [header(r.headers, "dlq_reason") for r in letters] == ["undecodable", "handler-failed"]
    assert {header(r.headers, "dlq_topic") for r in letters} == {settings.case_events_topic}
    assert [header(r.headers, "dlq_offset") for r in letters] == ["2", "3"]
    assert len({header(r.headers, "dlq_partition") for r in letters}) == 1
    assert header(letters[1].headers, "ce_id") == str(failing.id)
    assert {header(r.headers, "dlq_consumer") for r in letters} == {NAME}


def test_a_restarted_worker_redoes_only_what_it_had_not_finished(
    settings, start_worker, pg_admin_url
):
    first, later = received("C-1"), received("C-1", matter="户籍证明")
    cut_short = stored(settings, received("C-1", matter="房屋登记"))  # before the outage
    bad: RawMessage = (b"C-1", b"garbage", [])
    url = str(settings.database_url)
    produce(settings, first, bad)
    worker = start_worker()
    wait_for(lambda: first.id in inbox_ids(url, NAME), 40, "the first event", worker)
    assert len(dead_letters(settings, 1)) == 1

    # The database goes away while the next event is being handled; the worker is stopped.
    allow_connections(pg_admin_url, url, False)
    try:
        produce(settings, cut_short)
        wait_for(lambda: "retrying" in worker.log(), 20, "a retry", worker)
        started = time.monotonic()
        assert worker.stop() == 0, worker.log()[-4000:]
        assert time.monotonic() - started < 10  # does not wait for the database
    finally:
        allow_connections(pg_admin_url, url, True)

    produce(settings, later)
    again = start_worker()
    wait_for(lambda: later.id in inbox_ids(url, NAME), 40, "the event sent while stopped", again)

    assert sorted(e[0] for e in effects(url)) == sorted([first.id, cut_short.id, later.id])
    # Had the garbage not been acked and committed, it would have been dead-lettered again.
    assert len(dead_letters(settings, 2, timeout=2)) == 1

