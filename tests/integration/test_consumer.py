"""The kafka-python consumer base against the real broker and PostgreSQL."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from bench.plain_consumer import EventConsumer
from events.kafka import to_kafka
from services.common.backoff import Backoff
from services.common.bus import topic_size
from services.common.consumer import Outcome
from services.common.deadletter import header
from tests.integration.faust_app_fixture import (
    EFFECTS_DDL,
    FAILING_MATTER,
    RawMessage,
    allow_connections,
    dead_letters,
    effects,
    inbox_ids,
    produce,
    received,
    record_effect,
    stored,
)
from tests.waits import logged, wait_until

NAME = "test-router"


@pytest.fixture
def consumer_factory(settings):
    with psycopg.connect(str(settings.database_url)) as conn:
        conn.execute(EFFECTS_DDL)
    made: list[EventConsumer] = []

    def make(**kwargs) -> EventConsumer:
        consumer = EventConsumer(settings, NAME, record_effect, **kwargs)
        made.append(consumer)
        return consumer

    yield make
    for consumer in made:
        consumer.close()


def drain(consumer: EventConsumer, expected: int, timeout: float = 20.0) -> list[Outcome]:
    """Poll until ``expected`` messages were processed, then once more for any surplus."""
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + timeout
    while len(outcomes) < expected and time.monotonic() < deadline:
        outcomes += consumer.poll_once(timeout_ms=300)
    return outcomes + consumer.poll_once(timeout_ms=300)


def test_an_event_is_handled_once_and_its_offset_stored_with_it(settings, consumer_factory):
    event = received()
    produce(settings, event)
    consumer = consumer_factory()

    assert drain(consumer, 1) == [Outcome.handled]
    assert effects(settings.database_url) == [(event.id, "C-1", "补办社保卡")]
    assert inbox_ids(settings.database_url, NAME) == {event.id}
    positions = consumer.positions()
    assert list(positions.values()) == [1]
    assert next(iter(positions))[0] == settings.case_events_topic


def test_the_same_event_delivered_twice_has_one_effect(settings, consumer_factory):
    event = received()
    produce(settings, event, event)

    assert drain(consumer_factory(), 2) == [Outcome.handled, Outcome.duplicate]
    assert effects(settings.database_url) == [(event.id, "C-1", "补办社保卡")]


def test_bad_messages_are_dead_lettered_and_the_next_good_one_is_handled(
    settings, consumer_factory
):
    garbage: RawMessage = (b"C-1", b"\xff\x00 not an event", [])
    failing, good = received(matter=FAILING_MATTER), received(matter="户籍证明")
    produce(settings, garbage, failing, good)  # one key: one partition, in this order

    outcomes = drain(consumer_factory(), 3)

    assert outcomes == [Outcome.dead_lettered, Outcome.dead_lettered, Outcome.handled]
    assert effects(settings.database_url) == [(good.id, "C-1", "户籍证明")]  # failing rolled back
    assert inbox_ids(settings.database_url, NAME) == {good.id}
    letters = dead_letters(settings, 2)
    assert [r.value for r in letters] == [garbage[1], to_kafka(failing)[1]]  # byte for byte
    assert [header(r.headers, "dlq_reason") for r in letters] == ["undecodable", "handler-failed"]
    assert {header(r.headers, "dlq_topic") for r in letters} == {settings.case_events_topic}
    assert [header(r.headers, "dlq_offset") for r in letters] == ["0", "1"]
    assert len({header(r.headers, "dlq_partition") for r in letters}) == 1
    assert all(r.key == b"C-1" for r in letters)
    assert header(letters[1].headers, "ce_id") == str(failing.id)  # original headers kept
    assert "RuntimeError: the handler refuses this matter" in str(
        header(letters[1].headers, "dlq_error")
    )
    assert {header(r.headers, "dlq_consumer") for r in letters} == {NAME}


def test_a_restarted_consumer_resumes_from_its_stored_offsets(settings, consumer_factory):
    first, second, third = received("C-1"), received("C-2"), received("C-3")
    produce(settings, first, second)
    before = consumer_factory()
    assert drain(before, 2) == [Outcome.handled, Outcome.handled]
    before.close()

    produce(settings, third)
    after = consumer_factory()

    assert drain(after, 1) == [Outcome.handled]  # no replay: no duplicates were even seen
    assert sorted(e[0] for e in effects(settings.database_url)) == sorted(
        [first.id, second.id, third.id]
    )
    assert sum(after.positions().values()) == 3


def test_a_database_outage_is_waited_out_not_dead_lettered(
    settings, consumer_factory, pg_admin_url, caplog
):
    consumer = consumer_factory(backoff=Backoff(attempts=3, first_delay=0.05, max_delay=0.2))
    first, second = received("C-1"), stored(settings, received("C-2"))
    produce(settings, first)
    assert drain(consumer, 1) == [Outcome.handled]

    allow_connections(pg_admin_url, str(settings.database_url), False)
    produce(settings, second)
    outcomes: list[Outcome] = []
    worker = threading.Thread(target=lambda: outcomes.extend(drain(consumer, 1, timeout=30)))
    worker.start()
    # past the 3 bounded attempts (an error line from then on): it must still be retrying
    wait_until(logged(caplog, "(attempt 4,"), what="a 4th attempt")
    assert outcomes == [] and worker.is_alive()
    allow_connections(pg_admin_url, str(settings.database_url), True)
    worker.join(35)

    assert outcomes == [Outcome.handled]
    assert sorted(e[0] for e in effects(settings.database_url)) == sorted([first.id, second.id])
    assert topic_size(str(settings.kafka_bootstrap_servers), settings.dead_letter_topic) == 0
