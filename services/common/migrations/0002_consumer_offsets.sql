-- Where each plain (kafka-python) consumer is in each partition it reads.
--
-- Written in the SAME transaction as the consumer's inbox row and its effects, so that
-- "handled" and "moved past it" can never disagree: a crash either keeps all three or none.
-- Kafka-committed offsets are not used for these consumers (kafka-python consumer groups
-- stall against the Tansu broker; see DESIGN.md). Mutable by design: a cursor, not a fact.

-- Owner: bench/plain_consumer.py (EventConsumer; no service runs it); the exporter reads it, relay recovery clears it.
CREATE TABLE IF NOT EXISTS consumer_offsets (
    consumer     text        NOT NULL,
    topic        text        NOT NULL,
    partition    integer     NOT NULL CHECK (partition >= 0),
    next_offset  bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);
