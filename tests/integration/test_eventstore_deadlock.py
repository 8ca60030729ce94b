"""A multi-row INSERT INTO events chosen as a deadlock's victim is made again at once, not
raised: a real deadlock on a real PostgreSQL between append_many and a writer taking the
same streams in the other order (two statements in one transaction)."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from services.common.eventstore import AppendedMany, EventStore
from tests.integration.test_eventstore_many import blocked_on_a_lock, received, rows, some, verified


def test_append_many_picked_as_a_deadlock_victim_tries_again_and_reports_conflicts(
        database_url):
    store = EventStore(database_url)
    for case_id in ("C-1", "C-2", "C-3"):
        store.append(case_id, some(case_id, 1), expected_version=0)
    outcome: list[Any] = []

    def many() -> None:  # C-1 goes in, then it waits for the other writer's C-2
        try:
            outcome.append(store.append_many([("C-1", some("C-1", 1), 1),
                                              ("C-2", some("C-2", 1), 1),
                                              ("C-3", some("C-3", 1), 1)]))
        except BaseException as exc:
            outcome.append(exc)

    with psycopg.connect(database_url) as other:
        other.execute("SELECT 1")  # a transaction open: the appends below are inside it
        store.append("C-2", [received("C-2", 9)], 1, conn=other)  # not committed yet
        thread = threading.Thread(target=many)
        thread.start()
        deadline = time.monotonic() + 10
        while not blocked_on_a_lock(database_url):
            assert time.monotonic() < deadline and thread.is_alive(), outcome
            time.sleep(0.05)
        # now the other order: C-1, which append_many holds -> a circle. append_many has
        # waited longer, so PostgreSQL's check (deadlock_timeout) picks it as the victim.
        store.append("C-1", [received("C-1", 9)], 1, conn=other)
        other.commit()
    thread.join(20)
    (result,) = outcome
    assert isinstance(result, AppendedMany), result
    assert set(result.conflicts) == {"C-1", "C-2"} and set(result.recorded) == {"C-3"}
    assert rows(database_url, "C-1") == [("C-1", 1), ("C-1", 2)]
    assert rows(database_url, "C-3") == [("C-3", 1), ("C-3", 2)]
    verified(database_url)
