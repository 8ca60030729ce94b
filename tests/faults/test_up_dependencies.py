"""`shouwen up` with its embedded PostgreSQL and broker killed under it (kill -9): each is
started again with a line when it is back, and the suite goes on: an event appended after
each comes back reaches the topic through the relay, and the history is back on the
emptied broker."""

from __future__ import annotations

import os
import signal
import uuid

import psutil
import pytest

from services.common.eventstore import EventStore
from tests.e2e.test_up import (  # noqa: F401 (fixtures)
    read_all_events,
    received,
    start_up,
    workdir,
)

pytestmark = [pytest.mark.fault, pytest.mark.slow, pytest.mark.timeout(300)]


def append(url: str) -> uuid.UUID:
    case_id = f"C-UP-{uuid.uuid4().hex[:8]}"
    event = received(case_id)
    EventStore(url).append(case_id, [event], expected_version=0)
    return event.id


def seen(bootstrap: str, event_id: uuid.UUID) -> bool:
    return event_id in {e.id for e in read_all_events(bootstrap, idle=2.0)}


def test_up_restarts_its_killed_postgres_and_broker_and_the_suite_goes_on(
    start_up, workdir  # noqa: F811 (fixtures)
):
    up = start_up(workdir / "data")
    url = up.database_url()
    up.wait_for(r"^relay\s+\| .*publishing to shouwen\.case-events")
    before = append(url)

    tansu = next(p for p in up.descendants() if "tansu" in " ".join(p.cmdline()).lower())
    tansu.kill()
    up.wait_for(r"^up\s+\| broker died", timeout=30)
    up.wait_for(r"^up\s+\| broker is back", timeout=60)
    after_broker = append(url)
    _eventually(lambda: seen(up.bootstrap, after_broker) and seen(up.bootstrap, before),
                "new and old events on the restarted broker")

    os.kill(up.postmaster_pid(), signal.SIGKILL)
    up.wait_for(r"^up\s+\| postgres died", timeout=30)
    up.wait_for(r"^up\s+\| postgres is back", timeout=120)
    after_postgres = append(url)
    _eventually(lambda: seen(up.bootstrap, after_postgres), "an event after PostgreSQL's return")

    status, _ = up.interrupt(timeout=30)
    assert status == 0, up.output()
    assert not psutil.pid_exists(tansu.pid) or tansu.status() == psutil.STATUS_ZOMBIE


def _eventually(check, what: str, timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.5)
