"""EventStore.append_many (and CaseRepository.append_many) against a real PostgreSQL: many
streams in one go, a stream at the wrong version reported while the others go in, re-appended
ids a no-op, the same hash chains as ``append``, and races with a concurrent single append."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from events import CloudEvent, new_event
from events.case import CaseReceived
from events.fields import Channel
from services.cases.repository import CaseRepository
from services.common.eventstore import (
    GENESIS,
    AppendedMany,
    EventStore,
    EventStoreError,
    EventValidationError,
    chain_hash,
)
from services.common.integrity import verify_store
from services.domain.case import CaseState, fold
from services.relay.sequencer import sequence_pass


def received(case_id: str, n: int = 1) -> CloudEvent:
    payload = CaseReceived(
        channel=Channel.phone, receipt_number=f"R-{case_id}-{n}", unit_id="U1", matter="补办社保卡",
        inquirer_name="张三", inquirer_phone="13800000000", first_responder_id="S1",
        first_responder_name="李四", first_responder_duty="窗口受理",
        first_responder_contact="0935-1234567",
    )
    return new_event(payload, subject=case_id, actor="staff:S1")


def some(case_id: str, k: int) -> list[CloudEvent]:
    return [received(case_id, n) for n in range(k)]


def rows(url: str, stream_id: str | None = None) -> list[tuple[str, int]]:
    with psycopg.connect(url) as c:
        found = c.execute(
            "SELECT stream_id, version FROM events WHERE %(s)s::text IS NULL OR stream_id = %(s)s"
            " ORDER BY stream_id, version", {"s": stream_id}).fetchall()
    return [(r[0], r[1]) for r in found]


def verified(url: str) -> None:
    """Put everything in commit order (the relay's sequencer), then check both hash chains."""
    with psycopg.connect(url, autocommit=True) as c:
        while sequence_pass(c):
            pass
    report = verify_store(url)
    assert report.ok, report.summary()
    assert report.unsequenced == 0


@pytest.fixture
def store(database_url) -> EventStore:
    return EventStore(database_url)


def test_many_streams_go_in_at_once_chained_as_append_chains_them(database_url, store):
    store.append("C-old", some("C-old", 2), expected_version=0)  # the single-stream path
    batch = [("C-a", some("C-a", 3), 0), ("C-b", some("C-b", 1), 0),
             ("C-old", some("C-old", 2), 2), ("C-any", some("C-any", 2), None)]
    with psycopg.connect(database_url) as conn, conn.transaction():
        result = store.append_many(batch, conn=conn)

    assert not result.conflicts and not result.replayed
    stored = store.read_streams(["C-a", "C-b", "C-old", "C-any", "C-none"])
    assert set(stored) == {"C-a", "C-b", "C-old", "C-any"}
    assert [r.event.sequence for r in stored["C-old"]] == [1, 2, 3, 4]
    for stream_id, events, _ in batch:
        assert [r.event.id for r in result.recorded[stream_id]] == [e.id for e in events]
        # what append_many says it stored is what is stored, position and time included
        assert result.recorded[stream_id] == stored[stream_id][-len(events):]
    for stream in stored.values():
        prev = GENESIS
        for r in stream:
            assert (r.prev_hash, r.hash) == (prev, chain_hash(prev, r.event))
            prev = r.hash
    store.append("C-a", some("C-a", 1), expected_version=3)  # and append carries on from it
    verified(database_url)


def test_a_stream_at_the_wrong_version_is_reported_and_the_others_go_in(database_url, store):
    store.append("C-1", some("C-1", 1), expected_version=0)
    store.append("C-2", some("C-2", 2), expected_version=0)
    result = store.append_many([("C-1", some("C-1", 2), 0), ("C-2", some("C-2", 1), 2),
                                ("C-3", some("C-3", 1), 0)])

    assert set(result.conflicts) == {"C-1"}
    conflict = result.conflicts["C-1"]
    assert (conflict.stream_id, conflict.expected, conflict.actual) == ("C-1", 0, 1)
    assert set(result.recorded) == {"C-2", "C-3"}
    assert rows(database_url) == [("C-1", 1), ("C-2", 1), ("C-2", 2), ("C-2", 3), ("C-3", 1)]
    verified(database_url)


def test_re_appending_the_same_ids_is_a_no_op_returning_what_is_stored(database_url, store):
    first_events, other = some("C-1", 2), some("C-2", 1)
    first = store.append_many([("C-1", first_events, 0)])
    again = store.append_many([("C-1", first_events, 0), ("C-2", other, 0)])
    also = store.append("C-1", first_events, expected_version=0)  # append agrees

    assert again.replayed == {"C-1"} and not again.conflicts
    assert [(r.hash, r.position) for r in again.recorded["C-1"]] == [
        (r.hash, r.position) for r in first.recorded["C-1"]]
    assert [r.hash for r in also] == [r.hash for r in first.recorded["C-1"]]
    assert rows(database_url) == [("C-1", 1), ("C-1", 2), ("C-2", 1)]


def test_what_no_redo_can_mend_is_refused_and_nothing_is_written(database_url, store):
    stored = some("C-1", 1)
    store.append("C-1", stored, expected_version=0)
    event, other = received("C-2"), received("C-3")
    bad = other.model_copy(update={"data": {**other.data, "channel": "pigeon"}})
    refused: list[tuple[list[Any], type[Exception], str]] = [
        ([("C-2", [event], 0), ("C-3", [bad], 0)],
         EventValidationError, "field 'data.channel'"),
        ([("C-2", [event], 0), ("C-2", some("C-2", 1), 1)], EventStoreError, "given twice"),
        ([("C-2", [event], 0), ("C-3", [event], 0)], EventValidationError, "field 'subject'"),
        ([("C-2", [event], 0), ("C-1", [*stored, received("C-1")], 0)], EventStoreError,
         "already appended, the others were not"),
    ]
    for batch, error, message in refused:
        with pytest.raises(error, match=message):
            store.append_many(batch)
    assert rows(database_url) == [("C-1", 1)]


def test_a_failing_caller_transaction_takes_the_appends_with_it(database_url, store):
    with psycopg.connect(database_url) as conn:
        with pytest.raises(RuntimeError), conn.transaction():
            store.append_many([("C-1", some("C-1", 1), 0)], conn=conn)
            raise RuntimeError("the caller's own work failed")
        assert rows(database_url) == []
        assert store.append_many([], conn=conn).recorded == {}


# -- racing a concurrent writer ------------------------------------------------------------
def blocked_on_a_lock(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as c:
        row = c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname ="
                        " current_database() AND wait_event_type = 'Lock'").fetchone()
    return bool(row and row[0])


def racing(url: str, first_writer: Callable[[psycopg.Connection], Any], commit: bool,
           batch: list[Any]) -> AppendedMany:
    """``first_writer`` writes on its own connection, not yet committed; append_many of
    ``batch`` starts and waits on its rows; the first writer commits (or rolls back)."""
    store = EventStore(url)
    outcome: list[Any] = []
    with psycopg.connect(url) as first:
        first.execute("SELECT 1")  # a transaction open: the writer's block is a savepoint in it
        first_writer(first)

        def many() -> None:
            try:
                outcome.append(store.append_many(batch))
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=many)
        thread.start()
        deadline = time.monotonic() + 10
        while not blocked_on_a_lock(url):
            assert time.monotonic() < deadline and thread.is_alive(), outcome
            time.sleep(0.05)
        first.commit() if commit else first.rollback()
    thread.join(10)
    (result,) = outcome
    assert isinstance(result, AppendedMany), result
    return result


@pytest.fixture
def three(database_url, store) -> Iterator[None]:
    for case_id in ("C-1", "C-2", "C-3"):
        store.append(case_id, some(case_id, 1), expected_version=0)
    yield


def test_a_stream_a_concurrent_append_got_to_first_is_reported_and_left_whole(
    database_url, three
):
    single = received("C-2", 9)
    result = racing(
        database_url, lambda c: EventStore(database_url).append("C-2", [single], 1, conn=c),
        True, [("C-1", some("C-1", 2), 1), ("C-2", some("C-2", 2), 1),
               ("C-3", some("C-3", 2), 1)])

    conflict = result.conflicts["C-2"]
    assert (set(result.conflicts), conflict.expected, conflict.actual) == ({"C-2"}, 1, 2)
    assert set(result.recorded) == {"C-1", "C-3"}
    # not version 3 of C-2 on top of the concurrent version 2: none of the stream's rows
    assert [r.event.id for r in EventStore(database_url).read_stream("C-2")][1:] == [single.id]
    assert rows(database_url, "C-1") == [("C-1", 1), ("C-1", 2), ("C-1", 3)]
    verified(database_url)


def test_a_concurrent_append_that_rolls_back_costs_nothing(database_url, three):
    result = racing(
        database_url,
        lambda c: EventStore(database_url).append("C-2", [received("C-2", 9)], 1, conn=c),
        False, [("C-1", some("C-1", 1), 1), ("C-2", some("C-2", 2), 1)])

    assert not result.conflicts and set(result.recorded) == {"C-1", "C-2"}
    assert rows(database_url, "C-2") == [("C-2", 1), ("C-2", 2), ("C-2", 3)]
    verified(database_url)


def test_the_same_events_appended_concurrently_are_a_no_op(database_url, three):
    events = some("C-1", 2)
    result = racing(
        database_url,
        lambda c: EventStore(database_url).append_many([("C-1", events, 1)], conn=c),
        True, [("C-1", events, 1), ("C-3", some("C-3", 1), 1)])

    assert result.replayed == {"C-1"} and not result.conflicts
    assert [r.event.id for r in result.recorded["C-1"]] == [e.id for e in events]
    assert rows(database_url, "C-1") == [("C-1", 1), ("C-1", 2), ("C-1", 3)]
    verified(database_url)


# -- the case repository ---------------------------------------------------------------------
def index(url: str) -> dict[str, tuple[str, int]]:
    with psycopg.connect(url) as c:
        found = c.execute("SELECT case_id, receipt_number, version FROM case_index").fetchall()
    return {r[0]: (r[1], r[2]) for r in found}


def test_the_repository_indexes_the_cases_it_appended_and_reports_the_others(database_url):
    with ConnectionPool(database_url, min_size=1, max_size=1) as pool:
        repo = CaseRepository(pool)
        with pool.connection() as conn, conn.transaction():
            opened = repo.append_many(
                [(CaseState(case_id=c), [received(c)]) for c in ("C-1", "C-2")], conn)
        stale = opened.states["C-1"]
        with pool.connection() as conn, conn.transaction():
            repo.append(stale, [received("C-1", 2)], conn)  # someone acts on C-1
        with pool.connection() as conn, conn.transaction():
            later = repo.append_many([(stale, [received("C-1", 3)]),
                                      (opened.states["C-2"], [received("C-2", 3)])], conn)
        first_of_c2 = repo.store.read_stream("C-2")[:1]

    assert opened.states["C-2"] == fold("C-2", [r.event for r in first_of_c2])
    assert set(later.conflicts) == {"C-1"} and set(later.states) == {"C-2"}
    assert later.states["C-2"].version == 2 and later.states["C-2"].receipt_number == "R-C-2-3"
    assert index(database_url) == {"C-1": ("R-C-1-1", 2), "C-2": ("R-C-2-1", 2)}
