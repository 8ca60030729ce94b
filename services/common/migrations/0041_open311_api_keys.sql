-- Open311 API keys, one per client application (issue 14): `shouwen open311 keys add NAME`
-- prints a key once; only its sha256 is kept. POST /open311/v2/requests needs a key in force.
-- Owner: services/intake (open311_keys.py).
CREATE TABLE IF NOT EXISTS open311_api_keys (
    key_id      text        PRIMARY KEY,          -- the key's public prefix, for lists/revoking
    key_hash    bytea       NOT NULL UNIQUE,      -- sha256 of the whole key
    client      text        NOT NULL,             -- the client application's name
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text        NOT NULL,
    revoked_at  timestamptz                       -- set once: the key no longer works
);
