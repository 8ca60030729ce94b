"""OpenTelemetry tracing across the chain: an HTTP request's trace goes into the events it
appends, through the store and the topic, and every consumer continues it, so one trace
shows intake -> relay -> routing -> deadline-watch -> notification for a case.

    HTTP       FastAPI makes the server span itself (its native telemetry, W3C traceparent
               of the request honoured), with the global tracer provider set up here
    store      EventStore.append records the trace context an event was appended under in
               event_traces (not in the event: not hashed) — the current span's, or, for an
               event caused by one a consumer is handling, that handling's (batches too)
    relay      sends it as the CloudEvent extension ce_traceparent / ce_tracestate, from a
               PRODUCER span "publish <topic>" child of the stored context
    consumers  handling(consumer, event): a CONSUMER span "<consumer> <type>" child of the
               event's traceparent; its log records carry the case, event and trace ids

Off by default: no provider is installed, spans are no-ops and nothing is written. One
setting turns it on: SHOUWEN_OTLP_ENDPOINT (an OTLP/HTTP collector, e.g.
http://otel-collector:4318); setup(..., exporter=) installs any other exporter (the tests'
in-memory one).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind

from services.common import logs

_TRACER = "shouwen"
# event id -> (traceparent, tracestate) of the span handling it, for what its handler appends
_HANDLING: ContextVar[dict[UUID, tuple[str, str | None]] | None] = ContextVar(
    "shouwen_handling_traces", default=None)
_installed: Any = None


def setup(service: str, endpoint: str | None = None, exporter: Any = None) -> bool:
    """Install the SDK's tracer provider (once per process) exporting to ``endpoint`` (OTLP
    over HTTP) or ``exporter``; False when neither is given (tracing stays off)."""
    global _installed
    if endpoint is None and exporter is None:
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    if _installed is None:
        existing = trace.get_tracer_provider()
        if isinstance(existing, TracerProvider):  # set up already (by the host, a test)
            _installed = existing
        else:
            _installed = TracerProvider(resource=Resource.create({"service.name": service}))
            trace.set_tracer_provider(_installed)
    if exporter is not None:
        _installed.add_span_processor(SimpleSpanProcessor(exporter))
    if endpoint is not None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        _installed.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")))
    return True


def setup_from_settings(service: str) -> bool:
    from services.common.settings import Settings

    return setup(service, Settings().otlp_endpoint)


def enabled() -> bool:
    return _installed is not None


def tracer() -> trace.Tracer:
    return trace.get_tracer(_TRACER)


def _carrier(span_context: Any = None) -> dict[str, str]:
    carrier: dict[str, str] = {}
    ctx = trace.set_span_in_context(span_context) if span_context is not None else None
    propagate.inject(carrier, context=ctx)
    return carrier


def current() -> tuple[str, str | None] | None:
    """The (traceparent, tracestate) of the current span, if it is a real one."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier = _carrier()
    return (carrier["traceparent"], carrier.get("tracestate")) if "traceparent" in carrier \
        else None


def for_appended(causation_ids: Sequence[UUID | None]) -> list[tuple[str, str | None] | None]:
    """The trace context to record for each event appended now (by its cause's handling,
    else the current span's)."""
    handling, now = _HANDLING.get() or {}, current()
    return [handling.get(c, now) if c is not None else now for c in causation_ids]


def _parent(traceparent: str | None, tracestate: str | None) -> otel_context.Context | None:
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    return propagate.extract(carrier)


def publishing(topic: str, traceparent: str | None, tracestate: str | None
               ) -> tuple[str | None, str | None]:
    """The relay: a PRODUCER span under the stored context; its context goes on the
    message. Without tracing (or without a stored context) the stored one goes on as is."""
    if traceparent is None or _installed is None:
        return traceparent, tracestate
    span = tracer().start_span(f"publish {topic}", context=_parent(traceparent, tracestate),
                               kind=SpanKind.PRODUCER,
                               attributes={"messaging.system": "kafka",
                                           "messaging.destination.name": topic})
    span.end()
    carrier = _carrier(span)
    return carrier.get("traceparent", traceparent), carrier.get("tracestate", tracestate)


def _consumer_span(consumer: str, event: Any) -> Span:
    return tracer().start_span(
        f"{consumer} {event.type}",
        context=_parent(getattr(event, "traceparent", None), getattr(event, "tracestate", None)),
        kind=SpanKind.CONSUMER,
        attributes={"messaging.system": "kafka", "messaging.consumer.group.name": consumer,
                    "messaging.message.id": str(event.id), "shouwen.case_id": event.subject,
                    "cloudevents.event_type": event.type})


@contextmanager
def handling(consumer: str, event: Any) -> Iterator[None]:
    """One event handled by ``consumer``: its span (current) and its log context."""
    span = _consumer_span(consumer, event)
    with trace.use_span(span, end_on_exit=True), \
            logs.context(case_id=event.subject, event_id=str(event.id)):
        yield


@contextmanager
def handling_batch(consumer: str, events: Sequence[Any]) -> Iterator[None]:
    """Events handled together in one transaction: a span each (none of them current), and
    what the handler appends for one of them is recorded under that one's span. Tracing
    off: nothing to do (no span is made current here, and nothing is recorded), so none of
    the per-event context extraction and injection is done."""
    if _installed is None:
        yield
        return
    with ExitStack() as stack:
        traces: dict[UUID, tuple[str, str | None]] = {}
        for event in events:
            span = _consumer_span(consumer, event)
            stack.callback(span.end)
            carrier = _carrier(span)
            if "traceparent" in carrier:
                traces[event.id] = (carrier["traceparent"], carrier.get("tracestate"))
        token = _HANDLING.set({**(_HANDLING.get() or {}), **traces})
        try:
            yield
        finally:
            _HANDLING.reset(token)


_RECORD = ("INSERT INTO event_traces (event_id, traceparent, tracestate) VALUES (%s, %s, %s)"
           " ON CONFLICT (event_id) DO NOTHING")


def _rows(event_ids: Sequence[UUID], causation_ids: Sequence[UUID | None]
          ) -> list[tuple[UUID, str, str | None]]:
    if _installed is None:
        return []
    return [(i, *t) for i, t in zip(event_ids, for_appended(causation_ids), strict=True)
            if t is not None]


def record(conn: Any, event_ids: Sequence[UUID], causation_ids: Sequence[UUID | None]) -> None:
    """event_traces rows for events just appended (nothing while tracing is off, or
    without a trace context)."""
    found = _rows(event_ids, causation_ids)
    if found:
        with conn.cursor() as cur:
            cur.executemany(_RECORD, found)


async def record_async(conn: Any, event_ids: Sequence[UUID],
                       causation_ids: Sequence[UUID | None]) -> None:
    found = _rows(event_ids, causation_ids)
    if found:
        async with conn.cursor() as cur:
            await cur.executemany(_RECORD, found)
