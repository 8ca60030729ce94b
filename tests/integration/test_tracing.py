"""One trace through the whole chain, read with the SDK's in-memory exporter: an HTTP
request to intake (FastAPI's server span), the events it appended (their trace context kept
beside them in the store), the relay publishing them (ce_traceparent on the message), a
consumer handling one (a span continuing the message's context), the event that consumer
appended (recorded under its span), published in turn: all one trace id."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from bench.plain_consumer import EventConsumer
from events.envelope import new_event
from services.common import tracing
from services.common.eventstore import EventStore
from services.relay.relay import run
from tests.integration.intake_helpers import FIRST, register
from tests.integration.test_relay import quiet, read_topic, received

_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Tracing on for this test (the provider is the process's, set once)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    monkeypatch.setattr(tracing, "_installed", provider)  # back to off after the test
    _EXPORTER.clear()
    return _EXPORTER


def traceparent_of(message_headers: list) -> str | None:
    return dict(message_headers).get("ce_traceparent", b"").decode() or None


def test_one_trace_from_the_http_request_through_relay_and_consumer(
        spans, intake, token_for, db_settings, settings, bootstrap):
    url = str(db_settings.database_url)
    settings = settings.model_copy(update={"database_url": url})
    case_id = register(intake, token_for(FIRST))["case_id"]
    server = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert server, [s.name for s in spans.get_finished_spans()]
    trace_id = server[-1].context.trace_id

    with psycopg.connect(url) as conn:  # the store kept each event's context beside it
        rows = conn.execute(
            "SELECT t.traceparent FROM events e JOIN event_traces t USING (event_id)"
            " WHERE e.stream_id = %s", (case_id,)).fetchall()
    assert rows and all(r[0].split("-")[1] == format(trace_id, "032x") for r in rows)

    run(quiet(settings), once=True)
    published = read_topic(bootstrap, settings.case_events_topic, len(rows))
    mine = [e for _, _, e in published if e.subject == case_id]
    assert mine and all(e.traceparent and e.traceparent.split("-")[1] ==
                        format(trace_id, "032x") for e in mine)
    producers = [s for s in spans.get_finished_spans() if s.kind is SpanKind.PRODUCER]
    assert producers and {s.context.trace_id for s in producers} == {trace_id}

    follow_ups: list[uuid.UUID] = []

    def route(conn: psycopg.Connection, event) -> None:  # a consumer that appends
        if event.subject != case_id or follow_ups:
            return
        nxt = received(f"{case_id}-x")
        nxt = new_event_caused_by(nxt, event)
        EventStore(url).append(nxt.subject, [nxt], expected_version=0, conn=conn)
        follow_ups.append(nxt.id)

    consumer = EventConsumer(settings, "trace-test", route)
    try:
        for _ in range(40):
            consumer.poll_once(timeout_ms=300)
            if follow_ups:
                break
    finally:
        consumer.close()
    assert follow_ups
    handled = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CONSUMER
               and s.attributes["shouwen.case_id"] == case_id]
    assert handled and {s.context.trace_id for s in handled} == {trace_id}
    assert handled[0].parent is not None and handled[0].parent.span_id in {
        s.context.span_id for s in producers}

    run(quiet(settings), once=True)  # the consumer's event, published: still the same trace
    everything = read_topic(bootstrap, settings.case_events_topic, len(published) + 1)
    (follow,) = [e for _, _, e in everything if e.id == follow_ups[0]]
    assert follow.traceparent is not None
    assert follow.traceparent.split("-")[1] == format(trace_id, "032x")


def new_event_caused_by(template, cause):
    return template.model_copy(update={"causationid": cause.id,
                                       "correlationid": cause.correlationid or cause.id})


def test_nothing_is_recorded_while_tracing_is_off(db_settings):
    assert not tracing.enabled()
    url = str(db_settings.database_url)
    event = received(f"C-{uuid.uuid4().hex[:8]}")
    with trace.get_tracer("t").start_as_current_span("x"):
        EventStore(url).append(event.subject, [event], expected_version=0)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM event_traces").fetchone() == (0,)
    assert new_event  # the constructor the services use; the test builds events with it


def test_a_batch_records_each_follow_up_under_its_own_causes_span(spans):
    """BatchHandling's case (routing, notification, the ledger): one transaction for many
    events, and what the handler appends for each is recorded under that one's trace."""
    first, second = received("C-a"), received("C-b")
    first = first.model_copy(update={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})
    second = second.model_copy(update={"traceparent": "00-" + "3" * 32 + "-" + "4" * 16 + "-01"})
    with tracing.handling_batch("routing", [first, second]):
        found = tracing.for_appended([second.id, first.id, None])
    assert [t[0].split("-")[1] if t else None for t in found] == ["3" * 32, "1" * 32, None]
    handled = {s.context.trace_id for s in spans.get_finished_spans()
               if s.kind is SpanKind.CONSUMER}
    assert handled == {int("1" * 32, 16), int("3" * 32, 16)}
