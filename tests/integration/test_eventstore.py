"""The event store against a real PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest

from events import new_event
from events.case import CaseReceived
from services.common.eventstore import (
    EventStore,
    EventValidationError,
    WrongExpectedVersion,
    chain_hash,
)


def received(case_id: str = "C-1"):
    payload = CaseReceived(
        channel="phone", receipt_number="R-1", unit_id="U1", matter="补办社保卡",
        inquirer_name="张三", inquirer_phone="13800000000", first_responder_id="S1",
        first_responder_name="李四", first_responder_duty="窗口受理",
        first_responder_contact="0935-1234567",
    )
    return new_event(payload, subject=case_id, actor="staff:S1")


def count(url: str) -> int:
    with psycopg.connect(url) as c:
        return c.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]


def test_append_assigns_versions_and_chains_hashes(database_url):
    store = EventStore(database_url)
    store.append("C-1", [received()], expected_version=0)
    store.append("C-1", [received(), received()], expected_version=1)
    stream = store.read_stream("C-1")
    assert [r.event.sequence for r in stream] == [1, 2, 3]
    assert stream[0].prev_hash == b"\0" * 32
    for prev, cur in zip(stream, stream[1:], strict=False):
        assert cur.prev_hash == prev.hash
    assert all(chain_hash(r.prev_hash, r.event) == r.hash for r in stream)


def test_wrong_expected_version_names_both_and_writes_nothing(database_url):
    store = EventStore(database_url)
    store.append("C-1", [received()], expected_version=0)
    with pytest.raises(WrongExpectedVersion, match="expected version 0, but it is at version 1"):
        store.append("C-1", [received()], expected_version=0)
    assert count(database_url) == 1


def test_reappending_the_same_event_is_a_no_op(database_url):
    store = EventStore(database_url)
    event = received()
    first = store.append("C-1", [event], expected_version=0)
    again = store.append("C-1", [event], expected_version=0)
    assert again[0].hash == first[0].hash
    assert count(database_url) == 1


def test_event_failing_its_schema_is_refused_naming_the_field(database_url):
    store = EventStore(database_url)
    bad = received().model_copy(update={"data": {**received().data, "channel": "pigeon"}})
    with pytest.raises(EventValidationError, match="field 'data.channel'"):
        store.append("C-1", [bad], expected_version=0)
    missing = received().model_copy(
        update={"data": {k: v for k, v in received().data.items() if k != "matter"}}
    )
    with pytest.raises(EventValidationError, match="field 'data.matter'"):
        store.append("C-1", [missing], expected_version=0)
    assert count(database_url) == 0


def test_read_stream_up_to_version_and_time(database_url):
    store = EventStore(database_url)
    store.append("C-1", [received(), received()], expected_version=0)
    with psycopg.connect(database_url) as c:
        cut = c.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    store.append("C-1", [received()], expected_version=2)
    assert len(store.read_stream("C-1", up_to_version=1)) == 1
    assert len(store.read_stream("C-1", up_to_time=cut)) == 2
    assert len(store.read_stream("C-1")) == 3


@pytest.mark.parametrize(
    "statement",
    ["UPDATE events SET actor = 'staff:X'", "DELETE FROM events", "TRUNCATE events"],
)
def test_the_database_refuses_updates_and_deletes(database_url, statement):
    EventStore(database_url).append("C-1", [received()], expected_version=0)
    with psycopg.connect(database_url) as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute(statement)
    assert count(database_url) == 1
