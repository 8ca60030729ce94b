-- Trace context of an event (W3C traceparent/tracestate, the CloudEvents distributed-tracing
-- extension), beside the event rather than in it: not part of the fact, not hashed, not
-- append-only. Written when an event is appended under a recording span
-- (services/common/tracing.py); the relay sends it on as ce_traceparent / ce_tracestate.
-- Owner: services/common (tracing.py, eventstore.py); the relay reads it beside the events it sends.
CREATE TABLE IF NOT EXISTS event_traces (
    event_id     uuid PRIMARY KEY,
    traceparent  text NOT NULL,
    tracestate   text
);
