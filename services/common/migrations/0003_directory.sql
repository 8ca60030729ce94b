-- Every version of the directory and matter catalogue ever loaded; the newest is in force.
-- Each load also appends a shouwen.directory.changed event (who, what, when) to the
-- hash-chained event store, stream 'directory'.
-- Owner: services/directory (store.py; read through DirectoryCache).
CREATE TABLE IF NOT EXISTS directory_versions (
    version    bigint      PRIMARY KEY,
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    actor      text        NOT NULL,
    sha256     text        NOT NULL,
    document   jsonb       NOT NULL
);
