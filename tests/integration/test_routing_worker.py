"""The routing worker as a real faust process: intake -> store -> relay -> topic -> routing.

Cases are registered through intake's register_inquiry into the real PostgreSQL, the relay
(in a thread) publishes them to the real broker, and ``python -m services.routing`` routes
them; the tests read the outcome back from the event store.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from events import CloudEvent, new_event
from events.case import CaseAccepted, TimeLimit
from events.fields import Channel, StaffMember
from events.kafka import to_kafka
from services.cases.repository import CaseRepository
from services.common import bus, embedded
from services.directory.index import DirectoryIndex
from services.intake.register import Inquiry, register_inquiry
from services.relay.relay import run as run_relay
from tests.integration.faust_app_fixture import inbox_ids
from tests.integration.scrape import scrape
from tests.processes import LoggedProcess

HANDLER = StaffMember(id="ZX005", name="李娜", duty="窗口受理", contact="0935-8100105")
LIMIT = TimeLimit(working_days=10, due_date=date(2026, 12, 15))
StoredEvent = tuple[str, str, Any, Any, dict[str, Any]]  # type, actor, causation, corr., data


class Routing(LoggedProcess):
    """``python -m services.routing`` with this test's environment, output in a log file."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        super().__init__([sys.executable, "-m", "services.routing", *args], env, log_path, 4000)


@pytest.fixture
def city(demo_directory) -> DirectoryIndex:
    return DirectoryIndex(demo_directory, 1)


@pytest.fixture
def repo(database_url) -> Iterator[CaseRepository]:
    with ConnectionPool(database_url, min_size=1, max_size=2) as pool:
        yield CaseRepository(pool)


@pytest.fixture
def relay(settings) -> Iterator[None]:
    stop = threading.Event()
    quiet = settings.model_copy(update={"relay_metrics_port": 0})
    thread = threading.Thread(target=run_relay, args=(quiet,), kwargs={"stop": stop})
    thread.start()
    yield
    stop.set()
    thread.join(30)


@pytest.fixture
def routing(env_for, tmp_path, relay) -> Iterator[Callable[..., Routing]]:
    started: list[Routing] = []

    def start(*args: str, metrics_port: int = 0) -> Routing:
        env = {**env_for, "SHOUWEN_DATA_DIR": str(tmp_path / "data"),
               "SHOUWEN_ROUTING_METRICS_PORT": str(metrics_port)}
        started.append(Routing(env, tmp_path / f"routing-{len(started)}.log", *args))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


def register(repo: CaseRepository, city: DirectoryIndex, staff_id: str, matter: str) -> CloudEvent:
    person = city.person(staff_id)
    assert person is not None
    with repo.pool.connection() as conn, conn.transaction():
        receipt = register_inquiry(repo, conn, person, Inquiry(
            channel=Channel.window, matter=matter, inquirer_name="王五",
            inquirer_phone="13900000000"))
    return repo.store.read_stream(receipt.case_id)[0].event


def stored(url: str, case_id: str) -> list[StoredEvent]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT type, actor, causation_id, correlation_id, data FROM events"
            " WHERE stream_id = %s ORDER BY version", (case_id,)).fetchall()
    return [(r[0].split(".")[2], r[1], r[2], r[3], r[4]) for r in rows]


def wait_for(check: Callable[[], bool], what: str, worker: Routing, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline or worker.proc.poll() is not None:
            pytest.fail(f"gave up waiting for {what}; routing log:\n{worker.log()}")
        time.sleep(0.2)


@pytest.mark.parametrize("batch_size", ["500", "1"])
def test_a_received_case_is_referred_to_an_on_duty_handler_and_redelivery_changes_nothing(
    settings, city, repo, routing, batch_size
):
    url = str(settings.database_url)
    received = register(repo, city, "ZX005", "我的社保卡坏了，来补办社保卡")  # a centre window
    worker = routing("--batch-size", batch_size)
    wait_for(lambda: len(stored(url, received.subject)) == 3, "the referral", worker)

    events = stored(url, received.subject)
    assert [e[0] for e in events] == ["received", "classified", "referred"]
    for _, actor, causation, correlation, _ in events[1:]:
        assert (actor, causation, correlation) == ("service:routing", received.id, received.id)
    classified, referral = events[1][4], events[2][4]["referral"]
    assert (classified["matter_type_code"], classified["handling_section_id"]) == (
        "RSJ-SBK-03", "RSJ-SBK")
    assert (referral["kind"], referral["unit_id"], referral["section_id"]) == (
        "internal", "RSJ", "RSJ-SBK")
    handler = city.person(referral["handler"]["id"])
    assert handler is not None and handler.staff.section == "RSJ-SBK" and handler.staff.on_duty
    assert repo.load(received.subject).awaiting_handoff_to == handler.staff.id

    # The same received event again, then a marker behind it on the same partition (same key)
    marker = new_event(CaseAccepted(handler=HANDLER, time_limit=LIMIT), subject=received.subject,
                       actor="staff:ZX005")  # only on the topic: not in the store
    producer = bus.producer(str(settings.kafka_bootstrap_servers))
    for message in (received, marker):
        key, value, headers = to_kafka(message)
        producer.send(settings.case_events_topic, key=key, value=value, headers=headers)
    producer.flush(15)
    producer.close(5)
    bootstrap = str(settings.kafka_bootstrap_servers)
    wait_for(lambda: bus.topic_size(bootstrap, settings.dead_letter_topic) == 1,
             "the marker dead-lettered (not in the store)", worker)
    assert marker.id not in inbox_ids(url, "routing")
    assert f"{received.id} (case {received.subject}) was handled before" in worker.log()
    assert stored(url, received.subject) == events  # nothing doubled


def test_routing_stays_out_of_an_accepted_case_and_escalates_an_unclear_one(
    settings, city, repo, routing
):
    url = str(settings.database_url)
    taken = register(repo, city, "ZX005", "补办社保卡")
    state = repo.load(taken.subject)
    accepted = new_event(CaseAccepted(handler=HANDLER, time_limit=LIMIT),
                         subject=taken.subject, actor="staff:ZX005")
    with repo.pool.connection() as conn, conn.transaction():
        repo.append(state, [accepted], conn)
    unclear = register(repo, city, "ZX005", "阿巴阿巴，啦啦啦")
    worker = routing()
    wait_for(lambda: {taken.id, unclear.id} <= inbox_ids(url, "routing"), "both cases", worker)

    assert [e[0] for e in stored(url, taken.subject)] == ["received", "accepted"]
    escalation = stored(url, unclear.subject)
    assert [e[0] for e in escalation] == ["received", "escalated"]
    _, actor, causation, _, data = escalation[1]
    assert (actor, causation) == ("service:routing", unclear.id)
    assert data["leader"] == {"id": "ZX004", "role": "section_head", "name": "张晓燕"}
    assert data["reason"] == "unclear_jurisdiction" and data["ladder_step"] == 1
    assert worker.stop() == 0, worker.log()  # SIGTERM: a clean stop


def test_the_metrics_port_counts_what_routing_decided(settings, city, repo, routing):
    url = str(settings.database_url)
    referred = register(repo, city, "ZX005", "我的社保卡坏了，来补办社保卡")
    unclear = register(repo, city, "ZX005", "阿巴阿巴，啦啦啦")
    port = embedded.free_port()
    worker = routing(metrics_port=port)
    wait_for(lambda: {referred.id, unclear.id} <= inbox_ids(url, "routing"), "both cases",
             worker)
    wait_for(lambda: scrape(port).get("shouwen_routing_received_total") == 2,
             "both counted", worker)

    figures = scrape(port)
    assert [figures[f'shouwen_routing_decisions_total{{kind="{kind}"}}']
            for kind in ("classified", "referred", "escalated")] == [1, 1, 1]
    assert figures["shouwen_routing_batches_total"] >= 1
    assert figures["shouwen_routing_batch_seconds_count"] == figures[
        "shouwen_routing_batches_total"]
    assert figures["shouwen_routing_dead_letters_total"] == 0
    assert figures["shouwen_routing_conflicts_total"] == 0
