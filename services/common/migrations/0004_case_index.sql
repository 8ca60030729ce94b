-- The writers' own view of each case, kept in the same transaction as every append to its
-- stream (services/cases/repository.py). Derived from the events: rebuildable, mutable.
-- Owner: services/cases (repository.py, written with every append; others read it through index.py).
CREATE TABLE IF NOT EXISTS case_index (
    case_id            text        PRIMARY KEY,
    receipt_number     text        NOT NULL UNIQUE,
    unit_id            text        NOT NULL,
    status             text        NOT NULL,
    channel            text        NOT NULL,
    first_responder_id text        NOT NULL,
    responsible_id     text        NOT NULL,
    handler_id         text,
    section_id         text,
    awaiting_handoff_to text,
    matter_type_code   text,
    due_date           date,
    transfer_pending   boolean     NOT NULL DEFAULT false,
    extension_pending  boolean     NOT NULL DEFAULT false,
    escalated_to       text[]      NOT NULL DEFAULT '{}',
    units              text[]      NOT NULL DEFAULT '{}',   -- every unit the case has been in
    participants       text[]      NOT NULL DEFAULT '{}',   -- every staff member who held it
    version            integer     NOT NULL,
    opened_at          timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS case_index_unit_idx ON case_index (unit_id, status);
CREATE INDEX IF NOT EXISTS case_index_handler_idx ON case_index (handler_id, status);
CREATE INDEX IF NOT EXISTS case_index_participants_idx ON case_index USING gin (participants);
CREATE INDEX IF NOT EXISTS case_index_units_idx ON case_index USING gin (units);

-- The citizen's access code (hashed): with the receipt number, it opens their case only.
-- Owner: services/cases (repository.py).
CREATE TABLE IF NOT EXISTS case_access (
    case_id          text  PRIMARY KEY,
    receipt_number   text  NOT NULL UNIQUE,
    access_code_hash bytea NOT NULL
);

CREATE SEQUENCE IF NOT EXISTS receipt_number_seq;
