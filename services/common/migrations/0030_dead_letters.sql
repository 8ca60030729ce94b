-- Every dead letter, kept in PostgreSQL as well as on the dead-letter topic (which a
-- memory-only development broker loses on restart): services/common/deadletter_store.py,
-- `shouwen dead-letters list|show|replay|discard`.
--
-- fingerprint = sha256 of (consumer, topic, partition, offset, key, value): a message
-- dead-lettered again after a crash (at-least-once on the topic) is one row here. The
-- message itself is kept byte for byte (key, value, headers without dlq_*), so it can be
-- replayed onto its topic after a fix; consumers' inboxes make a repeat harmless.
-- status: open -> replayed | discarded (who, when, why): a cursor of the operator's work,
-- the letter itself is never changed.
-- Owner: services/common (deadletter_store.py): the consumers' bases and the notification
-- sender write, `shouwen dead-letters` (deadletter_cli.py) reads and resolves.
CREATE TABLE IF NOT EXISTS dead_letters (
    id           bigserial   PRIMARY KEY,
    fingerprint  bytea       NOT NULL UNIQUE,
    consumer     text        NOT NULL,
    reason       text        NOT NULL,
    error        text        NOT NULL,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    key          bytea,
    value        bytea,
    headers      jsonb       NOT NULL DEFAULT '[]',
    event_id     text,
    event_type   text,
    subject      text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    status       text        NOT NULL DEFAULT 'open'
                 CHECK (status IN ('open', 'replayed', 'discarded')),
    resolved_at  timestamptz,
    resolved_by  text,
    note         text
);

CREATE INDEX IF NOT EXISTS dead_letters_open_idx
    ON dead_letters (consumer, reason) WHERE status = 'open';
