"""Poison on the topic, against the four real consumer processes (routing, deadline-watch,
notification, ledger-worker), a real PostgreSQL, a real broker and the relay.

Messages nobody appended, carrying a real case's key and its next sequence, are injected
beside the case's real events: an unknown version (received.v9), an unknown type
(teleported.v1), a well-formed handoff_accepted that is not in the store, a real event with
its data altered, and a real event under another case's key. Every consumer dead-letters
each of them whose type it reads with its reason (topic and PostgreSQL) — unknown types and
versions are read by all; a known type a consumer does not read (routing: handoff_accepted,
referred; notification: handoff_accepted) it acks unopened, services/common/reads.py, and
the ledger, reading every type, dead-letters all five — records none in its inbox, and the
ledger ends exactly where the store is: the real handoff_accepted is applied, not skipped
behind a guard moved by a forged sequence, and no phantom 台账 row appears."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from events import CloudEvent, new_event
from events.case_referral import HandoffAccepted
from events.fields import Channel, StaffMember
from events.kafka import to_kafka
from services.cases.repository import CaseRepository
from services.common import bus, embedded
from services.directory.index import DirectoryIndex
from services.domain.case import fold
from services.intake.register import Inquiry, register_inquiry
from tests.faults.workers import Service, relay_running, wait_for

pytestmark = pytest.mark.fault

CONSUMERS = ("routing", "deadline-watch", "notification", "ledger")
COMMANDS = {"routing": ["routing"], "deadline-watch": ["deadline-watch"],
            "notification": ["notification"], "ledger": ["ledger-worker"]}
REASONS = ["altered", "key-mismatch", "not-in-store", "unknown-type", "unknown-version"]
POISON_TYPES = {"altered": "shouwen.case.referred.v1", "key-mismatch": "shouwen.case.received.v1",
                "not-in-store": "shouwen.case.handoff_accepted.v1",
                "unknown-type": "shouwen.case.teleported.v1",
                "unknown-version": "shouwen.case.received.v9"}


def expected_letters() -> dict[str, list[str]]:
    """Each consumer's reasons: those of the poison whose type it reads (its declaration)."""
    from services.deadline_watch.watch import READS as DEADLINE
    from services.ledger.worker import READS as LEDGER
    from services.notification.planner import READS as NOTIFY
    from services.routing.router import READS as ROUTING

    reads = {"routing": ROUTING, "deadline-watch": DEADLINE, "notification": NOTIFY,
             "ledger": LEDGER}
    return {c: [r for r in REASONS if not reads[c].skips(POISON_TYPES[r])] for c in CONSUMERS}


def test_unknown_types_reach_every_consumer_and_the_ledger_reads_all_poison() -> None:
    expected = expected_letters()
    assert expected["ledger"] == REASONS
    assert all({"unknown-type", "unknown-version", "key-mismatch"} <= set(v)
               for v in expected.values())


@pytest.fixture
def repo(database_url) -> Iterator[CaseRepository]:
    with ConnectionPool(database_url, min_size=1, max_size=2) as pool:
        yield CaseRepository(pool)


def stream(url: str, case_id: str) -> list[CloudEvent]:
    from services.common.eventstore import EventStore

    return [r.event for r in EventStore(url).read_stream(case_id)]


def retyped(event: CloudEvent, event_type: str, sequence: int) -> tuple[bytes, bytes, list]:
    """A real event's message with another type, id and sequence (what an attacker or a
    newer producer would send): the key and data stay real."""
    forged = event.model_construct(**{**event.__dict__, "type": event_type,
                                      "id": new_event_id(), "sequence": sequence})
    return to_kafka(forged)


def new_event_id():  # type: ignore[no-untyped-def]
    from events import new_id

    return new_id()


def send(settings, messages) -> None:  # type: ignore[no-untyped-def]
    producer = bus.producer(str(settings.kafka_bootstrap_servers))
    try:
        for key, value, headers in messages:
            producer.send(settings.case_events_topic, key=key, value=value, headers=headers)
        producer.flush(15)
    finally:
        producer.close(5)


def letters(url: str) -> dict[str, list[str]]:
    """The consumers' dead letters of screened messages. The notification sender's own
    letters (``notification-failed``: no SMS gateway listens here, so the receipt SMS gives
    up after its attempts, sooner or later depending on the machine) are not the topic's."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT consumer, reason FROM dead_letters WHERE consumer = ANY(%s)"
                            " AND reason NOT LIKE 'notification-%%' ORDER BY reason",
                            (list(CONSUMERS),)).fetchall()
    found: dict[str, list[str]] = {}
    for consumer, reason in rows:
        found.setdefault(consumer, []).append(reason)
    return found


def ledger_row(url: str, case_id: str) -> tuple | None:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT version, status, awaiting_handoff_to, handler_id"
                            " FROM case_summary WHERE case_id = %s", (case_id,)).fetchone()


def test_every_consumer_dead_letters_poison_with_its_reason_and_applies_only_the_store(
    settings, env_for, tmp_path, demo_directory, repo
):
    url = str(settings.database_url)
    city = DirectoryIndex(demo_directory, 1)
    person = city.person("ZX005")
    assert person is not None
    with repo.pool.connection() as conn, conn.transaction():
        receipt = register_inquiry(repo, conn, person, Inquiry(
            channel=Channel.window, matter="我的社保卡坏了，来补办社保卡",
            inquirer_name="王五", inquirer_phone="13900000000"))
    case_id = receipt.case_id
    env = {**env_for, "SHOUWEN_DATA_DIR": str(tmp_path / "data"),
           **{f"SHOUWEN_{name}_METRICS_PORT": str(embedded.free_port())
              for name in ("ROUTING", "DEADLINE", "NOTIFY", "LEDGER")}}
    services = [Service(env, tmp_path / f"{name}.log", *COMMANDS[name]) for name in CONSUMERS]
    try:
        with relay_running(settings):
            wait_for(lambda: any(e.type == "shouwen.case.referred.v1"
                                 for e in stream(url, case_id)), "routing's referral", 120,
                     *services)
            events = stream(url, case_id)
            received, referred = events[0], next(
                e for e in events if e.type == "shouwen.case.referred.v1")
            wait_for(lambda: (ledger_row(url, case_id) or (0,))[0] >= referred.sequence,
                     "the ledger at the referral", 120, *services)
            head = events[-1].sequence or 0
            handler = StaffMember(**referred.data["referral"]["handler"])
            not_stored = new_event(HandoffAccepted(handler=handler), subject=case_id,
                                   actor=f"staff:{handler.id}").with_sequence(head + 1)
            key, value, headers = to_kafka(referred)
            altered_data = orjson.loads(value)
            altered_data["referral"]["section_name"] = "伪造科"
            poison = [
                retyped(received, "shouwen.case.received.v9", head + 1),
                retyped(received, "shouwen.case.teleported.v1", head + 1),
                to_kafka(not_stored),
                (key, orjson.dumps(altered_data), headers),
                (b"C-someone-else", *to_kafka(received)[1:]),
            ]
            send(settings, poison)
            expected = expected_letters()
            wait_for(lambda: letters(url) == expected,
                     "every consumer's dead letters", 120, *services)

            state = repo.load(case_id)
            real = new_event(HandoffAccepted(handler=handler), subject=case_id,
                             actor=f"staff:{handler.id}")
            with repo.pool.connection() as conn, conn.transaction():
                repo.append(state, [real], conn)
            wait_for(lambda: (ledger_row(url, case_id) or (0,))[0]
                     == stream(url, case_id)[-1].sequence, "the ledger at the store's head",
                     120, *services)
    finally:
        for service in services:
            service.stop()

    truth = fold(case_id, stream(url, case_id))
    version, status, awaiting, handler_id = ledger_row(url, case_id)  # type: ignore[misc]
    assert (status, awaiting, handler_id) == (truth.status.value, None, handler.id)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM ledger_rows").fetchone() == (1,)  # no phantom
        forged_ids = [h for m in poison[:3] for k, h in m[2] if k == "ce_id"]  # new ids
        assert conn.execute("SELECT count(*) FROM inbox WHERE event_id::text = ANY(%s)",
                            ([i.decode() for i in forged_ids],)).fetchone() == (0,)
    assert letters(url) == expected  # nothing more after the real one
    # (the notification sender may add its own letters: no SMS gateway listens here)
    assert bus.topic_size(str(settings.kafka_bootstrap_servers),
                          settings.dead_letter_topic) >= sum(map(len, expected.values()))
