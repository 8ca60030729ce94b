"""Routing in batches (BatchHandling + Router.handle_batch) against real PostgreSQL and broker:
one transaction for the batch, duplicates skipped, a bad message dead-lettered alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from prometheus_client import CollectorRegistry
from psycopg_pool import ConnectionPool

from events import CloudEvent, new_event
from events.case import CaseAccepted, TimeLimit
from events.fields import Channel, StaffMember
from events.kafka import to_kafka
from services.cases.repository import CaseRepository
from services.common.batch import BatchHandling
from services.common.consumer import InboxHandling, Outcome
from services.common.deadletter import DeadLetters, Delivery, header
from services.directory.index import DirectoryIndex
from services.intake.register import Inquiry, register_inquiry
from services.routing.metrics import routing_metrics
from services.routing.router import CONSUMER, Router
from tests.integration.faust_app_fixture import dead_letters, inbox_ids, received


@pytest.fixture
def city(demo_directory) -> DirectoryIndex:
    return DirectoryIndex(demo_directory, 1)


@pytest.fixture
def pool(database_url) -> Iterator[ConnectionPool]:
    with ConnectionPool(database_url, min_size=1, max_size=3,
                        kwargs={"autocommit": True}) as p:
        yield p


@pytest.fixture
def handling(settings, pool, city) -> Iterator[BatchHandling]:
    router = Router(CaseRepository(pool), lambda: city)
    letters = DeadLetters(str(settings.kafka_bootstrap_servers), settings.dead_letter_topic,
                          CONSUMER)
    yield BatchHandling(InboxHandling(CONSUMER, router.handle, letters), router.handle_batch)
    letters.close()


def register(pool: ConnectionPool, city: DirectoryIndex, staff_id: str, matter: str) -> CloudEvent:
    repo, person = CaseRepository(pool), city.person(staff_id)
    assert person is not None
    with pool.connection() as conn, conn.transaction():
        receipt = register_inquiry(repo, conn, person, Inquiry(
            channel=Channel.visit, matter=matter, inquirer_name="孙七",
            inquirer_phone="13600000000"))
    return repo.store.read_stream(receipt.case_id)[0].event


def delivered(*messages: CloudEvent | bytes) -> list[Delivery]:
    out = []
    for offset, m in enumerate(messages):
        key, value, headers = to_kafka(m) if isinstance(m, CloudEvent) else (b"C-x", m, [])
        out.append(Delivery("shouwen.case-events", 0, offset, key, value, list(headers)))
    return out


def routed(pool: ConnectionPool, case_id: str) -> list[str]:
    with pool.connection() as conn:
        rows = conn.execute("SELECT type FROM events WHERE stream_id = %s AND actor ="
                            " 'service:routing' ORDER BY version", (case_id,)).fetchall()
    return [r[0].split(".")[2] for r in rows]


def test_a_batch_routes_every_case_once_and_skips_what_it_saw(pool, city, handling):
    cases = [register(pool, city, "ZX005", m) for m in ("补办社保卡", "我想办护照", "阿巴阿巴")]
    first = handling.process(delivered(*cases[:2]), pool.connection)
    again = handling.process(delivered(cases[1], cases[2], cases[2]), pool.connection)

    assert first == [Outcome.handled, Outcome.handled]
    assert again == [Outcome.duplicate, Outcome.handled, Outcome.duplicate]
    assert [routed(pool, c.subject) for c in cases] == [
        ["classified", "referred"], ["classified"], ["escalated"]]


def test_a_bad_message_in_a_batch_is_dead_lettered_and_its_neighbours_routed(
    settings, pool, city, handling
):
    before, after = register(pool, city, "ZX005", "补办社保卡"), register(pool, city, "ZX006",
                                                                       "申请低保")
    stranger = received("C-not-in-the-store")  # on the topic, but no such case in the store
    outcomes = handling.process(delivered(before, stranger, after), pool.connection)

    assert outcomes == [Outcome.handled, Outcome.dead_lettered, Outcome.handled]
    assert routed(pool, before.subject) == ["classified", "referred"]
    assert routed(pool, after.subject) == ["classified", "referred"]
    assert inbox_ids(str(settings.database_url), CONSUMER) == {before.id, after.id}
    (letter,) = dead_letters(settings, 1)
    assert header(letter.headers, "dlq_reason") == "not-in-store"
    assert "C-not-in-the-store" in str(header(letter.headers, "dlq_error"))


def test_one_case_whose_handler_raises_is_dead_lettered_alone_the_batch_applied(
    settings, pool, city
):
    """Savepoint per event: the poison case's effects are rolled back, its inbox row too,
    the others are routed in the same transaction; the dead letter is kept in PostgreSQL."""
    cases = [register(pool, city, "ZX005", m) for m in ("补办社保卡", "申请低保", "我想办护照")]
    poison = cases[1].subject
    router = Router(CaseRepository(pool), lambda: city)

    def handle(conn, event):  # type: ignore[no-untyped-def]
        router.handle(conn, event)  # writes, then refuses: the savepoint must undo it
        if event.subject == poison:
            raise RuntimeError("poison")

    def handle_batch(conn, events):  # type: ignore[no-untyped-def]
        for event in events:
            handle(conn, event)

    letters = DeadLetters(str(settings.kafka_bootstrap_servers), settings.dead_letter_topic,
                          CONSUMER)
    handling = BatchHandling(InboxHandling(CONSUMER, handle, letters), handle_batch)
    try:
        outcomes = handling.process(delivered(*cases), pool.connection)
    finally:
        letters.close()

    assert outcomes == [Outcome.handled, Outcome.dead_lettered, Outcome.handled]
    assert [routed(pool, c.subject) for c in cases] == [
        ["classified", "referred"], [], ["classified"]]
    assert inbox_ids(str(settings.database_url), CONSUMER) == {cases[0].id, cases[2].id}
    (letter,) = dead_letters(settings, 1)
    assert header(letter.headers, "dlq_reason") == "handler-failed"
    with pool.connection() as conn:
        kept = conn.execute("SELECT consumer, reason, subject, status FROM dead_letters"
                            ).fetchall()
    assert kept == [(CONSUMER, "handler-failed", poison, "open")]


def test_an_undecodable_message_does_not_hold_up_the_batch(settings, pool, city, handling):
    case = register(pool, city, "ZX005", "孩子出生了要上户口")
    outcomes = handling.process(delivered(b"\xff not an event", case), pool.connection)

    assert outcomes == [Outcome.dead_lettered, Outcome.handled]
    assert routed(pool, case.subject) == ["classified", "referred"]
    assert header(dead_letters(settings, 1)[0].headers, "dlq_reason") == "undecodable"


class ActsFirstOnOne(CaseRepository):
    """A repository whose batch append loses one case: its first responder accepts it
    (committed on another connection) just before routing's append_many."""

    def __init__(self, pool: ConnectionPool, case_id: str) -> None:
        super().__init__(pool)
        self.case_id, self.conflicts = case_id, 0

    def append_many(self, items, conn):  # type: ignore[no-untyped-def]
        state = next(s for s, _ in items if s.case_id == self.case_id)
        with self.pool.connection() as other, other.transaction():
            CaseRepository(self.pool).append(state, [accepted(state.case_id)], other)
        result = super().append_many(items, conn)
        self.conflicts += len(result.conflicts)
        return result


def accepted(case_id: str) -> CloudEvent:
    handler = StaffMember(id="ZX005", name="李娜", duty="窗口受理", contact="0935-8100105")
    return new_event(CaseAccepted(handler=handler, time_limit=TimeLimit(
        working_days=10, due_date=date(2026, 12, 15))), subject=case_id, actor="staff:ZX005")


def test_a_case_acted_on_during_a_batch_is_looked_at_again_and_the_rest_routed(pool, city):
    cases = [register(pool, city, "ZX005", "补办社保卡") for _ in range(3)]
    repo = ActsFirstOnOne(pool, cases[1].subject)
    registry = CollectorRegistry()
    with pool.connection() as conn, conn.transaction():
        Router(repo, lambda: city, routing_metrics(registry)).handle_batch(conn, cases)

    assert repo.conflicts == 1
    counted = [registry.get_sample_value(name, labels) for name, labels in (
        ("shouwen_routing_conflicts_total", {}), ("shouwen_routing_received_total", {}),
        ("shouwen_routing_decisions_total", {"kind": "classified"}),
        ("shouwen_routing_decisions_total", {"kind": "referred"}))]
    assert counted == [1, 3, 2, 2]  # the lost case's decisions: not counted
    assert routed(pool, cases[1].subject) == []  # re-read: the first responder has it now
    assert [routed(pool, c.subject) for c in (cases[0], cases[2])] == [
        ["classified", "referred"], ["classified", "referred"]]
    with pool.connection() as conn:  # the referrals are in the case index
        indexed = dict(conn.execute("SELECT case_id, awaiting_handoff_to FROM case_index"
                                    " WHERE awaiting_handoff_to IS NOT NULL").fetchall())
    assert indexed == {c.subject: referred_to(pool, c.subject) for c in (cases[0], cases[2])}


def referred_to(pool: ConnectionPool, case_id: str) -> str:
    with pool.connection() as conn:
        row = conn.execute("SELECT data -> 'referral' -> 'handler' ->> 'id' FROM events"
                           " WHERE stream_id = %s AND type LIKE 'shouwen.case.referred.%%'",
                           (case_id,)).fetchone()
    assert row is not None
    return str(row[0])
