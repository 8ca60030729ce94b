"""CaseRepository.open_case: the received event, the index row and the access code commit
together or not at all, whatever the connection's mode (sync or async)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from events import new_event
from events.case import CaseReceived
from events.fields import Channel
from services.cases.repository import CaseRepository
from services.common.eventstore import GENESIS, EventStore, WrongExpectedVersion, chain_hash


@pytest.fixture
def pool(database_url) -> Iterator[ConnectionPool]:
    with ConnectionPool(database_url, min_size=1, max_size=2) as p:
        yield p


def received(case_id: str, receipt: str):
    payload = CaseReceived(
        channel=Channel.phone, receipt_number=receipt, unit_id="U1", matter="社保卡补办",
        inquirer_name="张三", inquirer_phone="13800000000", first_responder_id="S1",
        first_responder_name="李明", first_responder_duty="窗口", first_responder_contact="110",
    )
    return new_event(payload, subject=case_id, actor="staff:S1")


def counts(url: str, case_id: str) -> tuple[int, int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM events WHERE stream_id = %(c)s),"
            " (SELECT count(*) FROM case_index WHERE case_id = %(c)s),"
            " (SELECT count(*) FROM case_access WHERE case_id = %(c)s)", {"c": case_id},
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


@pytest.mark.parametrize("autocommit", [False, True])
def test_opening_a_case_writes_event_index_and_access_code_together(pool, database_url,
                                                                     autocommit):
    repo = CaseRepository(pool)
    with psycopg.connect(database_url, autocommit=autocommit) as conn:
        state = repo.open_case(received("C-1", "R1"), "ABCD234567", conn)

    assert (state.version, state.receipt_number) == (1, "R1")
    assert counts(database_url, "C-1") == (1, 1, 1)
    with pool.connection() as conn:
        assert repo.find_by_receipt(conn, "R1", "abcd234567") == "C-1"


@pytest.mark.parametrize("autocommit", [False, True])
def test_opening_an_existing_case_again_leaves_nothing_behind(pool, database_url, autocommit):
    repo = CaseRepository(pool)
    with pool.connection() as conn:
        repo.open_case(received("C-2", "R2"), "ABCD234567", conn)

    with pytest.raises((WrongExpectedVersion, psycopg.errors.UniqueViolation)), \
            psycopg.connect(database_url, autocommit=autocommit) as conn:
        repo.open_case(received("C-2", "R3"), "EFGH234567", conn)

    assert counts(database_url, "C-2") == (1, 1, 1)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT receipt_number FROM case_access WHERE case_id = 'C-2'"
                            ).fetchall() == [("R2",)]


def test_receipt_numbers_are_unique_across_repositories(pool):
    first, second = CaseRepository(pool), CaseRepository(pool)
    with pool.connection() as conn:
        numbers = [repo.next_receipt_number(conn) for _ in range(30) for repo in (first, second)]

    assert len(set(numbers)) == 60


def test_opening_a_case_on_an_async_autocommit_connection_is_one_atomic_statement(
        pool, database_url):
    repo = CaseRepository(pool)
    event = received("C-3", "R4")

    async def open_twice() -> None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            state = await repo.open_case_async(event, "ABCD234567", conn)
            assert (state.version, state.receipt_number) == (1, "R4")
            with pytest.raises(psycopg.errors.UniqueViolation):
                await repo.open_case_async(received("C-3", "R5"), "EFGH234567", conn)

    asyncio.run(open_twice())

    assert counts(database_url, "C-3") == (1, 1, 1)
    stored = EventStore(pool).read_stream("C-3")
    assert [r.event.id for r in stored] == [event.id]
    assert stored[0].prev_hash == GENESIS
    assert stored[0].hash == chain_hash(GENESIS, stored[0].event)  # as the store chains


def test_receipt_numbers_are_unique_across_sync_and_async_takers(pool, database_url):
    repo = CaseRepository(pool)

    async def take(n: int) -> list[str]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return [await repo.next_receipt_number_async(conn) for _ in range(n)]

    with pool.connection() as conn:
        numbers = [repo.next_receipt_number(conn) for _ in range(15)]
    numbers += asyncio.run(take(45))  # the sync block's last 5, then two blocks of its own

    assert len(set(numbers)) == 60


def sent(case_id: str, n: int):
    from events.notification import NotificationSent, NotifyChannel, RecipientKind

    payload = NotificationSent(source_event_id=f"E{n}", recipient_kind=RecipientKind.inquirer,
                               channel=NotifyChannel.sms, address="13800000000",
                               template="inquirer/receipt", language="zh-CN", attempts=1,
                               message="您好")
    return new_event(payload, subject=case_id, actor="service:notification")


def test_bookkeeping_events_go_on_at_each_head_chained_and_indexed(pool, database_url):
    """append_bookkeeping reads no stream: each case's head, one INSERT, the index's version
    moves; a case someone moved meanwhile is a conflict (nothing of it written)."""
    from services.common.integrity import verify_store

    repo = CaseRepository(pool)
    with pool.connection() as conn:
        for i in (1, 2):
            repo.open_case(received(f"C-B{i}", f"RB{i}"), "ABCD234567", conn)
    with pool.connection() as conn, conn.transaction():
        conflicts = repo.append_bookkeeping({"C-B1": [sent("C-B1", 1), sent("C-B1", 2)],
                                             "C-B2": [sent("C-B2", 3)]}, conn)
    assert conflicts == {}
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT case_id, version FROM case_index WHERE case_id LIKE 'C-B%'"
                            " ORDER BY 1").fetchall()
        heads = conn.execute("SELECT stream_id, max(version) FROM events"
                             " WHERE stream_id LIKE 'C-B%' GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [("C-B1", 3), ("C-B2", 2)] == heads
    assert verify_store(database_url, "C-B1").ok


def test_bookkeeping_refuses_state_changes_and_unknown_cases(pool):
    from services.cases.repository import CaseNotFound

    repo = CaseRepository(pool)
    with pool.connection() as conn, pytest.raises(ValueError):
        repo.append_bookkeeping({"C-X": [received("C-X", "RX")]}, conn)
    with pool.connection() as conn, pytest.raises(CaseNotFound):
        repo.append_bookkeeping({"C-none": [sent("C-none", 9)]}, conn)


def test_one_event_and_its_index_row_go_in_together_or_not_at_all(pool, database_url):
    """CaseRepository.append's one-statement path (EventStore.append_one_and): the event,
    chained, and the index row at its version; a stale state writes neither and raises."""
    from services.common.integrity import verify_store

    repo = CaseRepository(pool)
    with pool.connection() as conn:
        opened = repo.open_case(received("C-O1", "RO1"), "ABCD234567", conn)
    with pool.connection() as conn, conn.transaction():
        after = repo.append(opened, [sent("C-O1", 1)], conn)
    assert after.version == 2
    with pool.connection() as conn, conn.transaction(), pytest.raises(WrongExpectedVersion):
        repo.append(opened, [sent("C-O1", 2)], conn)  # still at version 1: stale
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT version FROM case_index WHERE case_id = 'C-O1'").fetchone()
        events = conn.execute("SELECT count(*) FROM events WHERE stream_id = 'C-O1'").fetchone()
    assert (row, events) == ((2,), (2,))
    assert verify_store(database_url, "C-O1").ok
