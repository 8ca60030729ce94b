-- The event store: per-case streams, hash-chained, append-only.
--
-- position   insert order (a sequence: NOT commit order; rows become visible out of order)
-- txid       the writing transaction (xid8). The relay only takes rows whose txid lies
--            below pg_snapshot_xmin(pg_current_snapshot()): those transactions are over,
--            so no row can still appear below that line.
-- hash       sha256(prev_hash || canonical bytes of the event), chained per stream.

-- Owner: services/common (eventstore.py): appended through CaseRepository/EventStore, read through EventStore (read_stream(s), read_kinds: upcast).
CREATE TABLE IF NOT EXISTS events (
    position        bigserial    PRIMARY KEY,
    event_id        uuid         NOT NULL UNIQUE,
    stream_id       text         NOT NULL,
    version         integer      NOT NULL CHECK (version >= 1),
    type            text         NOT NULL,
    source          text         NOT NULL,
    time            timestamptz  NOT NULL,
    dataschema      text,
    actor           text         NOT NULL,
    causation_id    uuid,
    correlation_id  uuid,
    data            jsonb        NOT NULL,
    prev_hash       bytea        NOT NULL,
    hash            bytea        NOT NULL,
    txid            xid8         NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz  NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (stream_id, version)
);
CREATE INDEX IF NOT EXISTS events_txid_idx ON events (txid, position);
CREATE INDEX IF NOT EXISTS events_time_idx ON events (stream_id, time);

-- The commit order, assigned by the relay's sequencer as transactions finish, and the
-- global hash chain over it. `seq` is the global position readers and `republish` use.
-- Owner: services/common (eventstore.py; read_all); its one writer is the relay's sequencer.
CREATE TABLE IF NOT EXISTS commit_log (
    seq          bigint      PRIMARY KEY,
    position     bigint      NOT NULL UNIQUE,
    event_id     uuid        NOT NULL UNIQUE,
    stream_id    text        NOT NULL,
    version      integer     NOT NULL,
    event_hash   bytea       NOT NULL,
    prev_hash    bytea       NOT NULL,
    hash         bytea       NOT NULL,
    sequenced_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Relay bookkeeping (mutable by design: cursors, not facts).
-- Owner: services/relay (sequencer.py, publish.py).
CREATE TABLE IF NOT EXISTS relay_state (
    name           text        PRIMARY KEY,
    low_txid       xid8        NOT NULL DEFAULT '0'::xid8,
    published_seq  bigint      NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Consumers' inbox: the event ids each consumer has handled, written in the same
-- transaction as the consumer's own effects, so a redelivery changes nothing.
-- Owner: services/common (inbox.py, batch.py): every consumer's handled event ids.
CREATE TABLE IF NOT EXISTS inbox (
    consumer      text        NOT NULL,
    event_id      uuid        NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Nothing in the store is ever updated or deleted: enforced here, not by convention.
CREATE OR REPLACE FUNCTION shouwen_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'shouwen: % on % is refused: the event store is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

DROP TRIGGER IF EXISTS events_append_only ON events;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION shouwen_refuse_change();
DROP TRIGGER IF EXISTS events_no_truncate ON events;
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION shouwen_refuse_change();
DROP TRIGGER IF EXISTS commit_log_append_only ON commit_log;
CREATE TRIGGER commit_log_append_only BEFORE UPDATE OR DELETE ON commit_log
    FOR EACH ROW EXECUTE FUNCTION shouwen_refuse_change();
DROP TRIGGER IF EXISTS commit_log_no_truncate ON commit_log;
CREATE TRIGGER commit_log_no_truncate BEFORE TRUNCATE ON commit_log
    FOR EACH STATEMENT EXECUTE FUNCTION shouwen_refuse_change();

CREATE INDEX IF NOT EXISTS commit_log_stream_idx ON commit_log (stream_id, version);
