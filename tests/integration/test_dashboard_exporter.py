"""The exporter against a real PostgreSQL and a real broker (Tansu): consumer lag per group
(broker-committed and consumer_offsets), dead letters by consumer and reason, events
appended since it started, and open / overdue / escalated cases per unit."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.common.settings import Settings
from services.dashboard.exporter import Exporter
from services.dashboard.sources import BrokerReader
from services.relay.sequencer import sequence_pass
from tests.integration.intake_helpers import register
from tests.integration.test_dashboard import build_city


def scrape(exporter: Exporter) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(exporter)  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def produced(settings: Settings) -> dict[str, Any]:
    """case-events: 3 messages on partition 0, 2 on 1, none on 2; three dead letters."""
    bootstrap, events = str(settings.kafka_bootstrap_servers), settings.case_events_topic
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for partition in (0, 0, 0, 1, 1):
        producer.send(events, value=b"{}", key=b"k", partition=partition)
    for consumer, reason in (("routing", "handler-failed"), ("routing", "handler-failed"),
                             ("notification", "undecodable")):
        producer.send(settings.dead_letter_topic, value=b"x", key=b"k", partition=0, headers=[
            ("dlq_consumer", consumer.encode()), ("dlq_reason", reason.encode())])
    producer.flush()
    producer.close()
    group = f"faust-like-{uuid.uuid4().hex[:8]}"
    committer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                              enable_auto_commit=False)
    committer.commit({TopicPartition(events, 0): OffsetAndMetadata(1, "", -1)})
    committer.close()
    with psycopg.connect(str(settings.database_url)) as conn:
        conn.execute("INSERT INTO consumer_offsets (consumer, topic, partition, next_offset)"
                     " VALUES ('plain-consumer', %s, 1, 1)", (events,))
    return {"group": group, "events": events}


def test_consumer_lag_dead_letters_and_topic_ends(settings, produced):
    reader = BrokerReader(str(settings.kafka_bootstrap_servers),
                          [settings.case_events_topic, settings.dead_letter_topic],
                          settings.dead_letter_topic)
    exporter = Exporter(str(settings.database_url), reader)
    try:
        exporter.refresh()
        samples = scrape(exporter)
        events, group = produced["events"], produced["group"]
        for partition, lag in ((0, 2), (1, 2), (2, 0)):
            assert value(samples, "shouwen_consumer_lag", group=group, topic=events,
                         partition=str(partition)) == lag
        assert value(samples, "shouwen_consumer_lag", group="plain-consumer", topic=events,
                     partition="1") == 1
        assert value(samples, "shouwen_topic_end_offset", topic=events, partition="0") == 3
        assert value(samples, "shouwen_dead_letters_total", consumer="routing",
                     reason="handler-failed") == 2
        assert value(samples, "shouwen_dead_letters_total", consumer="notification",
                     reason="undecodable") == 1
        producer = KafkaProducer(bootstrap_servers=str(settings.kafka_bootstrap_servers))
        producer.send(settings.dead_letter_topic, value=b"y", partition=1,
                      headers=[("dlq_consumer", b"routing"), ("dlq_reason", b"handler-failed")])
        producer.flush()
        producer.close()
        exporter.refresh()
        again = scrape(exporter)
        assert value(again, "shouwen_dead_letters_total", consumer="routing",
                     reason="handler-failed") == 3  # counted once each, never re-read
        assert value(again, "shouwen_exporter_errors_total", source="broker") == 0
    finally:
        reader.close()


def test_cases_per_unit_and_events_appended_since_start(intake: TestClient, token_for,
                                                        database_url):
    build_city(intake, token_for, database_url)
    exporter = Exporter(database_url, None)
    exporter.refresh()
    samples = scrape(exporter)
    assert [value(samples, f"shouwen_cases_{n}", unit="ZWFWZX")
            for n in ("open", "overdue", "escalated")] == [5, 2, 1]
    assert [value(samples, f"shouwen_cases_{n}", unit="RSJ")
            for n in ("open", "overdue", "escalated")] == [1, 0, 0]
    assert value(samples, "shouwen_events_appended_total", type="shouwen.case.received.v1") \
        is None  # what was there before the exporter started is not counted
    register(intake, token_for("ZX005"))
    register(intake, token_for("ZX005"))
    with psycopg.connect(database_url, autocommit=True) as conn:
        while sequence_pass(conn):
            pass
    exporter.refresh()
    samples = scrape(exporter)
    assert value(samples, "shouwen_events_appended_total", type="shouwen.case.received.v1") == 2
    assert value(samples, "shouwen_cases_open", unit="ZWFWZX") == 7
    assert value(samples, "shouwen_exporter_errors_total", source="db") == 0


def test_a_failed_read_is_counted_and_the_last_figures_stay():
    exporter = Exporter("postgresql://127.0.0.1:1/none?connect_timeout=1", None)
    exporter.cases = {"U1": (3, 1, 0)}
    exporter.refresh()
    samples = scrape(exporter)
    assert value(samples, "shouwen_exporter_errors_total", source="db") == 1
    assert value(samples, "shouwen_cases_open", unit="U1") == 3


def test_calendar_years_covered_follow_the_loaded_schedules(database_url):
    from services.calendar.builtin import today
    from services.calendar.schedule_file import read_schedule
    from services.calendar.store import record_schedule

    demo = Path(__file__).resolve().parents[2] / "deploy" / "demo"
    loaded = set()
    for schedule in sorted(demo.glob("calendar-CN-*.yaml")):
        parsed = read_schedule(schedule, None)
        record_schedule(database_url, parsed, by="system:test", source=str(schedule))
        loaded.add(parsed.schedule.year)
    exporter = Exporter(database_url, None)
    exporter.refresh()
    samples = scrape(exporter)
    for year in (today().year, today().year + 1):
        assert value(samples, "shouwen_calendar_year_covered", calendar="CN",
                     year=str(year)) == (1 if year in loaded else 0)
