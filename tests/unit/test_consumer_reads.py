"""Which messages a consumer may acknowledge unopened (services/common/reads.py), and that
each consumer's declaration covers every type its handlers act on. The same on a real broker
and PostgreSQL: tests/integration/test_consumer_skip.py."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from events import CloudEvent, model_for, new_event, registered_types
from events.kafka import to_kafka, type_header
from services.common.batch import BatchHandling
from services.common.consumer import InboxHandling, Outcome
from services.common.deadletter import Delivery
from services.common.reads import EVERYTHING, Reads
from services.common.screen import Rejected, decode
from services.deadline_watch.watch import READS as DEADLINE_READS
from services.deadline_watch.watch import DeadlineWatch
from services.ledger.worker import READS as LEDGER_READS
from services.notification.planner import READS as NOTIFY_READS
from services.notification.planner import Planner
from services.routing.router import READS as ROUTING_READS
from services.routing.router import Router
from tests.unit.test_events_samples import SAMPLES

RECEIVED, SENT = "shouwen.case.received.v1", "shouwen.case.notification_sent.v1"
ROUTING_LIKE = Reads.types([RECEIVED, "shouwen.case.accepted.v1"])


# what makes a read type matter to its consumer where the shared sample leaves it out
ACTED_ON = {"shouwen.case.accepted.v1": {"matter_type_code": "SB-03.2",
                                        "matter_type_name": "养老保险补缴"}}


def sample(event_type: str, subject: str = "C-1") -> CloudEvent:
    payload = model_for(event_type).model_validate(
        {**SAMPLES[event_type], **ACTED_ON.get(event_type, {})})
    return new_event(payload, subject=subject, actor="staff:S1")


def message(event: CloudEvent, *, type_as: str | None = None,
            headers: list[tuple[str, bytes | None]] | None = None) -> Delivery:
    key, value, hs = to_kafka(event)
    found: list[tuple[str, bytes | None]] = list(hs) if headers is None else headers
    if type_as is not None:
        found = [(n, type_as.encode() if n == "ce_type" else v) for n, v in found]
    return Delivery("case-events", 0, 7, key, value, found)


# -- the decision ---------------------------------------------------------------------------
def test_a_known_type_the_consumer_does_not_read_is_skipped() -> None:
    assert ROUTING_LIKE.skipped(message(sample(SENT))) == SENT


def test_a_read_type_is_screened() -> None:
    assert ROUTING_LIKE.skipped(message(sample(RECEIVED))) is None


def test_an_unknown_type_or_version_is_screened_and_so_dead_lettered() -> None:
    for made_up, reason in (("shouwen.case.teleported.v1", "unknown-type"),
                            ("shouwen.case.notification_sent.v9", "unknown-version")):
        delivery = message(sample(SENT), type_as=made_up)
        assert ROUTING_LIKE.skipped(delivery) is None
        with pytest.raises(Rejected) as caught:
            decode(delivery)
        assert caught.value.reason == reason


def test_an_old_version_of_a_read_type_is_read_through_its_upcaster() -> None:
    rated_v1 = message(sample("shouwen.case.rated.v1"))
    assert Reads.types(["shouwen.case.rated.v2"]).skipped(rated_v1) is None
    assert ROUTING_LIKE.skipped(rated_v1) == "shouwen.case.rated.v1"


def test_without_one_readable_type_header_the_message_is_decoded_in_full() -> None:
    sent = sample(SENT)
    _, _, hs = to_kafka(sent)
    others = [(n, v) for n, v in hs if n != "ce_type"]
    for headers in (others,                                          # none
                    [*hs, ("ce_type", SENT.encode())],               # two
                    [*others, ("ce_type", b"\xff\xfe")],             # not UTF-8
                    [*others, ("ce_type", None)]):                   # no value
        assert type_header(headers) is None
        assert ROUTING_LIKE.skipped(message(sent, headers=headers)) is None


def test_a_consumer_reading_everything_skips_nothing() -> None:
    assert LEDGER_READS is EVERYTHING
    assert all(EVERYTHING.skipped(message(sample(t))) is None for t in SAMPLES)


def test_a_declaration_naming_no_registered_type_is_refused() -> None:
    with pytest.raises(LookupError):
        Reads.types(["shouwen.case.recieved.v1"])


def test_made_up_types_do_not_grow_the_cache() -> None:
    reads = Reads.types([RECEIVED])
    for i in range(50):
        assert not reads.skips(f"shouwen.case.made_up_{i}.v1")
    assert reads.skips(SENT) and len(reads._skips) == 1


# -- the handling ---------------------------------------------------------------------------
class NoDatabase:
    """A connection source that fails the test if anything asks for a connection."""

    def __call__(self) -> Any:
        raise AssertionError("a skipped message must not touch the database")


def handling(reads: Reads, counted: list[str]) -> InboxHandling:
    def handler(conn: Any, event: CloudEvent) -> None:
        raise AssertionError("a skipped message must not reach the handler")
    return InboxHandling("routing", handler, dead_letters=None,  # type: ignore[arg-type]
                         reads=reads, on_skip=counted.append)


def test_a_batch_of_only_skipped_messages_touches_no_database_and_is_counted() -> None:
    counted: list[str] = []
    batch = BatchHandling(handling(ROUTING_LIKE, counted), lambda conn, events: None)
    deliveries = [message(sample(SENT)), message(sample("shouwen.case.deadline_set.v1"))]
    assert batch.process(deliveries, NoDatabase()) == [Outcome.skipped, Outcome.skipped]
    assert counted == [SENT, "shouwen.case.deadline_set.v1"]


def test_a_skipped_message_moves_the_stored_position_and_nothing_else() -> None:
    counted: list[str] = []
    positions: list[Any] = []
    conn = SimpleNamespace(transaction=contextlib.nullcontext)

    @contextlib.contextmanager
    def connection() -> Iterator[Any]:
        yield conn

    outcome = handling(ROUTING_LIKE, counted).process(
        message(sample(SENT)), connection, record_position=positions.append)
    assert outcome is Outcome.skipped and positions == [conn] and counted == [SENT]


# -- each consumer's declaration covers what its handlers act on ----------------------------
class Untouchable:
    """Stands for a connection, repository, directory...: any use fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a type outside the declaration used .{name}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a type outside the declaration was acted on")


def unread(reads: Reads) -> list[str]:
    return [t for t in SAMPLES if reads.skips(t)]


CONSUMERS = {
    "routing": (ROUTING_READS, lambda: Router(Untouchable(), Untouchable(), None, Untouchable())),
    "deadline-watch": (DEADLINE_READS,
                       lambda: DeadlineWatch(Untouchable(), Untouchable(), Untouchable())),
    "notification": (NOTIFY_READS, lambda: Planner(
        SimpleNamespace(staff_email_domain="", webhook_url=""), Untouchable())),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("name", sorted(CONSUMERS))
def test_the_handlers_do_nothing_with_a_type_the_consumer_skips(name: str) -> None:
    reads, build = CONSUMERS[name]
    consumer = build()
    skipped = unread(reads)
    assert SENT in skipped  # the bookkeeping is what is worth skipping
    for event_type in skipped:
        event = sample(event_type)
        consumer.handle_batch(Untouchable(), [event])  # a use would fail here
        consumer.handle(Untouchable(), event)


@pytest.mark.parametrize("name", sorted(CONSUMERS))
def test_the_declaration_reads_only_what_the_handlers_act_on(name: str) -> None:
    """The other way round: a declared type the handlers ignore would be decoded in vain."""
    reads, build = CONSUMERS[name]
    consumer = build()
    for event_type in (t for t in SAMPLES if not reads.skips(t)):
        with pytest.raises(AssertionError):
            consumer.handle_batch(Untouchable(), [sample(event_type)])


def test_every_declaration_is_over_registered_types() -> None:
    for reads, _ in CONSUMERS.values():
        assert not reads.everything
        assert set(unread(reads)) < set(registered_types())
