"""The projection on a real PostgreSQL and broker: incremental == rebuilt from the topic ==
rebuilt from the store; redelivery and rebuilds beside it change nothing."""

from __future__ import annotations

import random
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from events import upcast
from events.kafka import from_kafka
from services.common import bus
from services.ledger.metrics import ledger_metrics
from services.ledger.rebuild import rebuild_from_store, rebuild_from_topic
from services.ledger.worker import Projector
from services.record.tables import apply_events
from services.relay.relay import run as run_relay
from tests.integration.ledger_cases import append_cases


def publish(settings) -> None:
    run_relay(settings.model_copy(update={"relay_metrics_port": 0}), once=True)


def topic_events(settings, expected: int) -> list[Any]:
    consumer = bus.assigned_consumer(str(settings.kafka_bootstrap_servers),
                                     settings.case_events_topic)
    got: list[Any] = []
    try:
        for _ in range(100):
            for records in consumer.poll(timeout_ms=300).values():
                got += [upcast(from_kafka(r.value, r.headers)) for r in records]
            if len(got) >= expected:
                break
    finally:
        consumer.close()
    assert len(got) == expected
    return got


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY case_id").fetchall()
                for t in ("case_summary", "ledger_rows")}


def incremental(url: str, events: list[Any], seed: int = 7) -> None:
    """Batches of random size, each in its own transaction, some delivered twice."""
    rng = random.Random(seed)
    i = 0
    with psycopg.connect(url) as conn:
        while i < len(events):
            size = rng.randint(1, 9)
            with conn.transaction():
                apply_events(conn, events[i:i + size])
            if rng.random() < 0.3:  # at-least-once: the same batch again
                with conn.transaction():
                    assert apply_events(conn, events[i:i + size]) == 0
            i += size


@pytest.fixture
def published(settings) -> tuple[str, list[Any]]:
    url = str(settings.database_url)
    append_cases(url, 36)
    publish(settings)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM commit_log").fetchone()
    assert row is not None
    return url, topic_events(settings, int(row[0]))


def test_rebuild_from_the_topic_and_from_the_store_equals_incremental_processing(
    settings, published
) -> None:
    url, events = published
    incremental(url, events)
    built = snapshot(url)
    assert len(built["case_summary"]) == 36 and len(built["ledger_rows"]) == 36

    report = rebuild_from_topic(url, str(settings.kafka_bootstrap_servers),
                                settings.case_events_topic)
    assert (report.cases, report.events) == (36, len(events))
    assert snapshot(url) == built

    report = rebuild_from_store(url)
    assert (report.cases, report.events) == (36, len(events))
    assert snapshot(url) == built


def test_the_consumer_after_a_rebuild_skips_what_it_holds_and_goes_on(settings,
                                                                      published) -> None:
    url, events = published
    half = len(events) // 2
    incremental(url, events[:half])
    rebuild_from_store(url)  # everything, including what the consumer has not seen yet
    after_rebuild = snapshot(url)
    incremental(url, events[half:])  # the consumer catches up: nothing is applied twice
    assert snapshot(url) == after_rebuild


def test_a_gap_in_the_delivered_stream_is_read_from_the_store(settings, published) -> None:
    url, events = published
    case_id = "case-00000"  # shape 0: 13 events
    mine = [e for e in events if e.subject == case_id]
    registry = CollectorRegistry()
    with psycopg.connect(url) as conn, conn.transaction():  # versions 2..12 never delivered
        Projector(ledger_metrics(registry)).handle_batch(conn, [mine[0], mine[-1]])
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT version, status, rating FROM case_summary"
                           " WHERE case_id = %s", (case_id,)).fetchone()
    assert row == (13, "closed", "非常满意")
    assert registry.get_sample_value("shouwen_ledger_gap_fills_total") == 1


def test_summary_rows_name_the_missing_haves_and_the_stats_count_them(settings,
                                                                     published) -> None:
    from services.record import queries

    url, events = published
    incremental(url, events)
    with psycopg.connect(url) as conn:
        full = queries.summary(conn, "case-00000")
        bare = queries.summary(conn, "case-00004")
        late = queries.summary(conn, "case-00001")
        units = {r["unit_id"]: r for r in queries.stats(conn, "unit")}
        person = {r["staff_id"]: r for r in queries.stats(conn, "person")}
        view = {r[0]: r for r in conn.execute("SELECT unit_id, received FROM ledger_stats_unit")}
    assert full is not None and bare is not None and late is not None
    assert full["missing_haves"] == [] and full["on_time"] is True
    assert bare["missing_haves"] == ["plan", "responsible", "deadline", "supervision",
                                     "feedback", "summary"]
    assert late["overdue"] and late["escalated"] and late["due_date"].isoformat() == "2026-11-13"
    # 36 cases: i % 6 == 4 (6 cases) were received by RSJ, the other 30 by the centre
    assert (units["RSJ"]["received"], units["ZWFWZX"]["received"]) == (6, 30)
    assert units["ZWFWZX"]["overdue"] == 6 and units["ZWFWZX"]["complaints"] == 6
    assert units["ZWFWZX"]["satisfied"] == 12  # shape 0 (非常满意) and 2 (v1 score 4: 满意)
    assert person["ZX006"]["received"] == 6  # the transfers made ZX006 responsible
    assert view == {"RSJ": ("RSJ", 6), "ZWFWZX": ("ZWFWZX", 30)}


def test_shouwen_rebuild_from_the_topic_or_the_store(settings, published, env_for) -> None:
    import subprocess
    import sys

    url, events = published

    def shouwen(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "services.cli", *args],
                              env={**env_for, **env}, capture_output=True, text=True,
                              timeout=120)

    out = shouwen("rebuild")
    assert out.returncode == 0, out.stderr
    assert f"from the topic {settings.case_events_topic}: 36 case(s) from {len(events)}" \
        in out.stdout
    built = snapshot(url)
    out = shouwen("rebuild", "--from-store")
    assert out.returncode == 0 and "from the store: 36 case(s)" in out.stdout
    assert snapshot(url) == built
    gone = shouwen("rebuild", SHOUWEN_CASE_EVENTS_TOPIC="shouwen.no-such-topic")
    assert gone.returncode == 2 and "does not exist" in gone.stderr
    assert snapshot(url) == built  # nothing was emptied
