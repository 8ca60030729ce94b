"""A consumer passes over, unopened, the known types it does not read: a real faust worker
(the batch agent, as routing's) against the real broker and PostgreSQL. The decision itself:
tests/unit/test_consumer_reads.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from events import CloudEvent, model_for, new_event
from events.kafka import to_kafka
from services.common.deadletter import header
from services.common.embedded import free_port
from services.dashboard.sources import BrokerReader
from tests.integration.faust_app_fixture import (
    RawMessage,
    dead_letters,
    effects,
    inbox_ids,
    produce,
    received,
    stored,
)
from tests.integration.faust_worker import Worker, wait_for, worker_env
from tests.integration.scrape import scrape
from tests.unit.test_events_samples import SAMPLES

NAME = "test-skipper"
READS = "shouwen.case.received.v1"
SENT = "shouwen.case.notification_sent.v1"


@pytest.fixture
def worker(settings, env_for, tmp_path) -> Iterator[tuple[Worker, int]]:
    port = free_port()
    env = worker_env(str(settings.database_url), env_for, NAME, tmp_path,
                     SHOUWEN_TEST_READS=READS, SHOUWEN_TEST_METRICS_PORT=str(port))
    started = Worker(env, tmp_path / "worker.log")
    yield started, port
    started.stop()


def notice(case_id: str) -> CloudEvent:
    payload = model_for(SENT).model_validate(SAMPLES[SENT])
    return new_event(payload, subject=case_id, actor="service:notification")


def teleported(case_id: str) -> RawMessage:
    """A well-formed message of a type no one registered: poison, whoever reads it."""
    key, value, headers = to_kafka(received(case_id))
    return key, value, [(n, b"shouwen.case.teleported.v1" if n == "ce_type" else v)
                        for n, v in headers]


def committed_to_the_end(settings) -> Callable[[], bool]:
    reader = BrokerReader(str(settings.kafka_bootstrap_servers),
                          [settings.case_events_topic], settings.dead_letter_topic)

    def check() -> bool:
        ends = {tp: end for tp, end in reader.ends().items() if end > 0}
        mine = reader.group_offsets().get(NAME, {})
        return bool(ends) and all(mine.get(tp, 0) >= end for tp, end in ends.items())
    return check


def test_an_unread_type_is_skipped_an_unknown_one_dead_lettered_a_read_one_handled(
        settings, worker):
    proc, port = worker
    url = str(settings.database_url)
    first, last = received("C-1"), received("C-1", matter="户籍证明")
    sent = stored(settings, notice("C-1"))
    # one key, one partition, in this order
    produce(settings, first, sent, teleported("C-1"), last)
    wait_for(lambda: last.id in inbox_ids(url, NAME), 40, "the last event handled", proc)

    assert [e[0] for e in effects(url)] == sorted([first.id, last.id])
    assert inbox_ids(url, NAME) == {first.id, last.id}  # no inbox row for the notice
    letters = dead_letters(settings, 1)
    assert [header(r.headers, "dlq_reason") for r in letters] == ["unknown-type"]
    assert [header(r.headers, "dlq_offset") for r in letters] == ["2"]
    wait_for(committed_to_the_end(settings), 20, "the offsets committed to the end", proc)

    # A batch of nothing but unread types: no database work, and still committed past.
    later = [stored(settings, notice("C-2")), stored(settings, notice("C-3"))]
    produce(settings, *later)
    wait_for(committed_to_the_end(settings), 30, "the skipped-only batch committed", proc)
    assert inbox_ids(url, NAME) == {first.id, last.id}

    counted = f'shouwen_consumer_skipped_total{{consumer="{NAME}",type="{SENT}"}}'
    wait_for(lambda: scrape(port).get(counted) == 3, 10, "three skips counted", proc)
    assert len(dead_letters(settings, 2, timeout=2)) == 1  # nothing skipped went there
