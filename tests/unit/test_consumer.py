"""Pure parts of the consumer plumbing: retry policy, dead-letter headers, broker URLs."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import psycopg
import pytest

from services.common.backoff import Backoff, Stopped
from services.common.deadletter import (
    MAX_ERROR_BYTES,
    Delivery,
    dead_letter_headers,
    describe_error,
    header,
)
from services.common.faust_base import broker_urls

QUICK = Backoff(attempts=2, first_delay=0.001, max_delay=0.002)


def failing(times: int, error: Exception):
    calls = {"n": 0}

    def fn() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error
        return "done"

    return fn, calls


def test_transient_database_errors_are_retried_past_the_bounded_attempts():
    fn, calls = failing(7, psycopg.OperationalError("server closed the connection"))
    assert QUICK.run(fn, what="handling") == "done"
    assert calls["n"] == 8


def test_other_errors_are_not_retried():
    fn, calls = failing(1, ValueError("bad data"))
    with pytest.raises(ValueError):
        QUICK.run(fn, what="handling")
    assert calls["n"] == 1


def test_a_stop_request_ends_the_retrying_with_stopped():
    stop = threading.Event()
    stop.set()
    fn, calls = failing(100, psycopg.InterfaceError("connection already closed"))
    with pytest.raises(Stopped):
        QUICK.run(fn, what="handling", stop=stop)
    assert calls["n"] == 1


def test_delays_grow_and_are_capped():
    backoff = Backoff(attempts=3, first_delay=0.2, max_delay=1.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [0.2, 0.4, 0.8, 1.0, 1.0]


def test_dead_letter_headers_keep_the_original_and_say_where_from():
    delivery = Delivery(
        "shouwen.case-events", 4, 17, b"C-1", b"{}",
        [("ce_id", b"abc"), ("dlq_reason", b"old"), ("empty", None)],
    )
    when = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    headers = dead_letter_headers(
        delivery, reason="handler-failed", error=RuntimeError("boom"), consumer="routing", now=when
    )
    assert headers[:2] == [("ce_id", b"abc"), ("empty", None)]
    assert dict(headers[2:]) == {
        "dlq_reason": b"handler-failed",
        "dlq_error": b"RuntimeError: boom",
        "dlq_topic": b"shouwen.case-events",
        "dlq_partition": b"4",
        "dlq_offset": b"17",
        "dlq_consumer": b"routing",
        "dlq_time": b"2026-11-26T08:00:00.000000Z",
    }
    assert header(headers, "dlq_reason") == "handler-failed"


def test_long_errors_are_cut_to_two_kilobytes_on_a_character_boundary():
    text = describe_error(ValueError("办" * 3000))
    assert len(text.encode()) <= MAX_ERROR_BYTES
    assert text.startswith("ValueError: 办") and text.endswith("...")


def test_headers_arrive_as_a_list_or_a_mapping():
    assert Delivery.normalise_headers({"a": b"1"}) == [("a", b"1")]
    assert Delivery.normalise_headers((("a", b"1"),)) == [("a", b"1")]
    assert Delivery.normalise_headers(None) == []


def test_broker_urls_for_faust():
    assert broker_urls("h1:9092, h2:9093") == ["kafka://h1:9092", "kafka://h2:9093"]
