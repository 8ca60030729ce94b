"""The router's transaction against the real PostgreSQL: re-runs, races and load spreading.

No broker here: these call Router.route directly, as the consumer's transaction does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from events import CloudEvent, new_event
from events.case import CaseAccepted, TimeLimit
from events.fields import Channel, StaffMember
from services.cases.repository import CaseRepository
from services.directory.index import DirectoryIndex
from services.domain.case import CaseState
from services.intake.register import Inquiry, register_inquiry
from services.routing.router import OpenCounts, Router, decision_id

HANDLER = StaffMember(id="ZX005", name="李娜", duty="窗口受理", contact="0935-8100105")


@pytest.fixture
def city(demo_directory) -> DirectoryIndex:
    return DirectoryIndex(demo_directory, 1)


@pytest.fixture
def pool(database_url) -> Iterator[ConnectionPool]:
    with ConnectionPool(database_url, min_size=1, max_size=3) as p:
        yield p


def register(repo: CaseRepository, city: DirectoryIndex, staff_id: str, matter: str) -> CloudEvent:
    person = city.person(staff_id)
    assert person is not None
    with repo.pool.connection() as conn, conn.transaction():
        receipt = register_inquiry(repo, conn, person, Inquiry(
            channel=Channel.phone, matter=matter, inquirer_name="赵六",
            inquirer_phone="13700000000"))
    return repo.store.read_stream(receipt.case_id)[0].event


def types(repo: CaseRepository, case_id: str) -> list[str]:
    return [r.event.type.split(".")[2] for r in repo.store.read_stream(case_id)]


def test_routing_the_same_received_event_again_appends_nothing(pool, city):
    repo = CaseRepository(pool)
    router = Router(repo, lambda: city)
    received = register(repo, city, "ZX005", "补办社保卡")
    with pool.connection() as conn, conn.transaction():
        first = router.route(conn, received)
    with pool.connection() as conn, conn.transaction():
        second = router.route(conn, received)

    assert [e.id for e in first] == [decision_id(received.id, 0), decision_id(received.id, 1)]
    assert second == []
    assert types(repo, received.subject) == ["received", "classified", "referred"]


class ActsFirst(CaseRepository):
    """A repository whose first append loses a race: the first responder accepts the case
    (committed on another connection) just before routing's append."""

    def __init__(self, pool: ConnectionPool) -> None:
        super().__init__(pool)
        self.raced = False

    def append(
        self, state: CaseState, events: Sequence[CloudEvent], conn: psycopg.Connection
    ) -> CaseState:
        if not self.raced and events and events[0].actor == "service:routing":
            self.raced = True
            accepted = new_event(
                CaseAccepted(handler=HANDLER,
                             time_limit=TimeLimit(working_days=10, due_date=date(2026, 12, 15))),
                subject=state.case_id, actor="staff:ZX005")
            with self.pool.connection() as other, other.transaction():
                CaseRepository(self.pool).append(state, [accepted], other)
        return super().append(state, events, conn)


def test_a_person_acting_during_routing_wins_and_routing_looks_again(pool, city):
    repo = ActsFirst(pool)
    received = register(repo, city, "ZX005", "补办社保卡")
    with pool.connection() as conn, conn.transaction():
        appended = Router(repo, lambda: city).route(conn, received)

    assert repo.raced
    assert appended == []  # re-read, re-decided: the case is the first responder's now
    assert types(repo, received.subject) == ["received", "accepted"]


def test_cases_routed_in_one_transaction_spread_over_the_section(pool, city):
    repo = CaseRepository(pool)
    router = Router(repo, lambda: city)
    cases = [register(repo, city, "ZX005", "补办社保卡") for _ in range(4)]
    with pool.connection() as conn, conn.transaction():
        counts = OpenCounts(conn)
        handlers = [router.route(conn, c, counts)[1].data["referral"]["handler"]["id"]
                    for c in cases]
    assert handlers == ["RSJ008", "RSJ009", "RSJ008", "RSJ009"]

    # and a later transaction reads the load back from the case index
    later = register(repo, city, "ZX005", "补办社保卡")
    with pool.connection() as conn, conn.transaction():
        assert OpenCounts(conn).of(["RSJ008", "RSJ009", "RSJ010"]) == {
            "RSJ008": 2, "RSJ009": 2, "RSJ010": 0}
        referred = router.route(conn, later)[1]
    assert referred.data["referral"]["handler"]["id"] == "RSJ008"  # tie: the lowest id
